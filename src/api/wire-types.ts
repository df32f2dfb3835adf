import protobuf from 'protobufjs';

/**
 * Checks serialized protobuf against its message type before it is decoded:
 * every known field must arrive with the wire type its declaration implies,
 * nested messages and map entries included. protobufjs' decoders read a field
 * with its declared type whatever wire type it came with, so a varint sent for
 * a string or a string sent for a message would otherwise decode into a
 * plausible but wrong value, or fail deep inside the decoder as a generic
 * error. Unknown fields are only checked for structure (a newer sender may
 * add fields).
 */
export class WireTypeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WireTypeError';
  }
}

type WireTable = Readonly<Record<string, number | undefined>>;
const basic: WireTable = protobuf.types.basic;
const packed: WireTable = protobuf.types.packed;
const mapKey: WireTable = protobuf.types.mapKey;
const WIRE_NAMES = ['varint', '64-bit', 'length-delimited', 'group start', 'group end', '32-bit'];
/** Nesting deeper than any message of ours; a guard against crafted recursion. */
const MAX_DEPTH = 32;

const wireName = (w: number): string => WIRE_NAMES[w] ?? `wire type ${w}`;

/** The wire types a field may arrive with: packed repeated scalars come either way. */
const expectedWireTypes = (field: protobuf.Field): readonly number[] => {
  field.resolve();
  if (field.map) return [2];
  if (field.resolvedType instanceof protobuf.Type) return [2];
  const scalar = field.resolvedType instanceof protobuf.Enum ? 'int32' : field.type;
  const wire = basic[scalar];
  if (wire === undefined) return [2];
  return field.repeated && packed[scalar] !== undefined ? [wire, 2] : [wire];
};

class Reader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  varint(): number {
    let result = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new WireTypeError(`truncated varint at offset ${this.pos}`);
      const b = this.buf[this.pos++] as number;
      if (i < 7) result += (b & 0x7f) * 2 ** (7 * i);
      if ((b & 0x80) === 0) return result;
    }
    throw new WireTypeError(`varint longer than 10 bytes at offset ${this.pos}`);
  }

  /** Skips one value of wire type `wire` (its tag was at `at`); returns the [start, end) of a length-delimited one. */
  skip(wire: number, what: string, at: number): [number, number] | undefined {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 5) this.pos += 4;
    else if (wire === 2) {
      const length = this.varint();
      const start = this.pos;
      this.pos += length;
      if (this.pos > this.end) throw new WireTypeError(`${what} at offset ${at} runs past the end of its message`);
      return [start, this.pos];
    } else throw new WireTypeError(`${what} at offset ${at} has ${wireName(wire)}, which this executor does not accept`);
    if (this.pos > this.end) throw new WireTypeError(`${what} at offset ${at} runs past the end of its message`);
    return undefined;
  }
}

/** The next field's key: where it starts, its number and its wire type. */
const readTag = (r: Reader): { at: number; number: number; wire: number } => {
  const at = r.pos;
  const tag = r.varint();
  return { at, number: Math.floor(tag / 8), wire: tag % 8 };
};

const checkMessage = (type: protobuf.Type, buf: Uint8Array, start: number, end: number, path: string, depth: number): void => {
  if (depth > MAX_DEPTH) throw new WireTypeError(`${path}: messages nested more than ${MAX_DEPTH} deep`);
  const r = new Reader(buf, start, end);
  while (r.pos < end) {
    const { at, number, wire } = readTag(r);
    if (number === 0) throw new WireTypeError(`${path === '' ? '' : `${path}: `}field number 0 at offset ${at}`);
    const field = type.fieldsById[number];
    if (field === undefined) {
      r.skip(wire, `${path === '' ? '' : `${path}: `}unknown field ${number}`, at);
      continue;
    }
    const name = path === '' ? field.name : `${path}.${field.name}`;
    const allowed = expectedWireTypes(field);
    if (!allowed.includes(wire)) {
      throw new WireTypeError(`${name} (field ${number}, ${field.type}) arrived as ${wireName(wire)}, expected ${allowed.map(wireName).join(' or ')}`);
    }
    const span = r.skip(wire, name, at);
    if (span === undefined) continue;
    if (field instanceof protobuf.MapField) checkMapEntry(field, buf, span, name, depth);
    else if (field.resolvedType instanceof protobuf.Type) checkMessage(field.resolvedType, buf, span[0], span[1], name, depth + 1);
  }
};

/** A map entry is a message of key (field 1) and value (field 2). */
const checkMapEntry = (field: protobuf.MapField, buf: Uint8Array, [start, end]: [number, number], path: string, depth: number): void => {
  const r = new Reader(buf, start, end);
  while (r.pos < end) {
    const { at, number, wire } = readTag(r);
    const expected = number === 1 ? mapKey[field.keyType] : number === 2 ? valueWireType(field) : undefined;
    if (expected !== undefined && wire !== expected) {
      throw new WireTypeError(`${path}: a map ${number === 1 ? 'key' : 'value'} arrived as ${wireName(wire)}, expected ${wireName(expected)}`);
    }
    const span = r.skip(wire, path, at);
    if (number === 2 && span !== undefined && field.resolvedType instanceof protobuf.Type) {
      checkMessage(field.resolvedType, buf, span[0], span[1], path, depth + 1);
    }
  }
};

const valueWireType = (field: protobuf.MapField): number | undefined => {
  if (field.resolvedType instanceof protobuf.Type) return 2;
  return basic[field.resolvedType instanceof protobuf.Enum ? 'int32' : field.type];
};

/** Throws WireTypeError naming the first field that is not what `type` declares. */
export const checkWireTypes = (type: protobuf.Type, buf: Uint8Array): void => {
  checkMessage(type, buf, 0, buf.length, '', 0);
};
