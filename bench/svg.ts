/**
 * A hand-written SVG chart: one panel per measured metric, each on its own
 * scale, with a bar per side at its median and a whisker from p10 to p90.
 */
import type { ResultRow } from './report-model.js';
import type { Summary } from './stats.js';

const PANEL_W = 200;
const PANEL_H = 280;
const PLOT_TOP = 70;
const PLOT_BOTTOM = 240;
const BAR_W = 50;
const MARGIN = 20;
const HEADER_H = 50;
const COLOURS = { executor: '#1f77b4', raw: '#ff7f0e' } as const;

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const num = (v: number): string => (Number.isFinite(v) ? v.toFixed(1) : '0');

/** Splits a title into lines of at most `width` characters, on spaces. */
const wrap = (text: string, width: number): string[] => {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines;
};

const bar = (x: number, s: Summary, scale: number, colour: string, unit: string): string => {
  const y = (v: number): number => PLOT_BOTTOM - v * scale;
  const cx = x + BAR_W / 2;
  const label = s.median < 10 ? s.median.toFixed(2) : s.median.toFixed(0);
  return [
    `<rect x="${num(x)}" y="${num(y(s.median))}" width="${BAR_W}" height="${num(s.median * scale)}" fill="${colour}"/>`,
    `<line x1="${num(cx)}" y1="${num(y(s.p10))}" x2="${num(cx)}" y2="${num(y(s.p90))}" stroke="#222" stroke-width="1.5"/>`,
    `<line x1="${num(cx - 8)}" y1="${num(y(s.p10))}" x2="${num(cx + 8)}" y2="${num(y(s.p10))}" stroke="#222" stroke-width="1.5"/>`,
    `<line x1="${num(cx - 8)}" y1="${num(y(s.p90))}" x2="${num(cx + 8)}" y2="${num(y(s.p90))}" stroke="#222" stroke-width="1.5"/>`,
    `<text x="${num(cx)}" y="${num(Math.min(y(s.median), y(s.p90)) - 6)}" font-size="11" text-anchor="middle">${esc(`${label} ${unit}`)}</text>`,
  ].join('');
};

const panel = (row: ResultRow, index: number): string => {
  const x0 = MARGIN + index * PANEL_W;
  const sides = [row.executor, row.raw].filter((s): s is Summary => s !== undefined);
  const top = Math.max(...sides.map((s) => Math.max(s.median, s.p90))) * 1.15 || 1;
  const scale = (PLOT_BOTTOM - PLOT_TOP) / top;
  const title = wrap(row.metric, 30)
    .slice(0, 3)
    .map((line, i) => `<text x="${x0 + PANEL_W / 2}" y="${HEADER_H + 4 + i * 13}" font-size="11" text-anchor="middle" font-weight="bold">${esc(line)}</text>`)
    .join('');
  const axis = `<line x1="${x0 + 25}" y1="${PLOT_BOTTOM}" x2="${x0 + PANEL_W - 25}" y2="${PLOT_BOTTOM}" stroke="#888"/>`;
  const exec = row.executor === undefined ? '' : bar(x0 + 40, row.executor, scale, COLOURS.executor, row.unit);
  const raw =
    row.raw === undefined
      ? `<text x="${x0 + 135}" y="${PLOT_BOTTOM - 6}" font-size="10" text-anchor="middle" fill="#888">no baseline</text>`
      : bar(x0 + 110, row.raw, scale, COLOURS.raw, row.unit);
  return `<g>${title}${axis}${exec}${raw}</g>`;
};

const legend = (): string =>
  [
    `<rect x="${MARGIN}" y="12" width="12" height="12" fill="${COLOURS.executor}"/>`,
    `<text x="${MARGIN + 18}" y="22" font-size="12">executor</text>`,
    `<rect x="${MARGIN + 90}" y="12" width="12" height="12" fill="${COLOURS.raw}"/>`,
    `<text x="${MARGIN + 108}" y="22" font-size="12">raw dockerode</text>`,
    `<text x="${MARGIN + 220}" y="22" font-size="12" fill="#555">bars: median; whiskers: p10–p90; each panel has its own scale</text>`,
  ].join('');

export const renderSvg = (rows: readonly ResultRow[]): string => {
  const measured = rows.filter((r) => r.executor !== undefined || r.raw !== undefined);
  const width = MARGIN * 2 + Math.max(1, measured.length) * PANEL_W;
  const body = measured.map((row, i) => panel(row, i)).join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${PANEL_H}" viewBox="0 0 ${width} ${PANEL_H}" font-family="sans-serif">
<rect x="0" y="0" width="${width}" height="${PANEL_H}" fill="#fff"/>
${legend()}
${body}
</svg>
`;
};
