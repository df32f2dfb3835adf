import { invalidArgument } from '../common/errors.js';

/**
 * Kubernetes resource quantities (`500m`, `1.5`, `128Mi`, `1G`, `2e3`), as
 * apimachinery's resource.Quantity reads them, to plain numbers.
 */
const QUANTITY_RE = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)|[eE]([+-]?\d+))?$/;

const SUFFIX: Readonly<Record<string, number>> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

/** JSON carries quantities as strings, and numbers where a client wrote them bare. */
export const parseQuantity = (value: string | number, field: string): number => {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw invalidArgument(field, `${value} is not a quantity >= 0`);
    return value;
  }
  const m = QUANTITY_RE.exec(value.trim());
  if (m === null) throw invalidArgument(field, `"${value}" is not a Kubernetes quantity (e.g. 500m, 2, 128Mi, 1G)`);
  const base = Number(m[1]);
  const scale = m[2] !== undefined ? (SUFFIX[m[2]] ?? 1) : m[3] !== undefined ? 10 ** Number(m[3]) : 1;
  const n = base * scale;
  if (!Number.isFinite(n) || n < 0) throw invalidArgument(field, `"${value}" is not a quantity >= 0`);
  return n;
};
