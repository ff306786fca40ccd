// A dependency-free SVG writer for the benchmark pictures: elements as strings, with every
// attribute value and text escaped here, so no caller writes markup by hand. It emits
// plain SVG 1.1 (no script, no style sheet, no external reference), which GitHub shows in
// a README as an <img>. Must not know what is being drawn.

const ENTITIES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text or an attribute value, escaped for XML. */
export function esc(value) {
  return String(value).replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

/** A number as SVG coordinates want it: at most 2 decimals, no "-0", never NaN. */
export function num(n) {
  if (!Number.isFinite(n)) throw new TypeError(`svg: a coordinate must be a finite number, not ${n}`);
  const r = Math.round(n * 100) / 100;
  return Object.is(r, -0) ? '0' : String(r);
}

/**
 * One element. `attrs`: name -> value (numbers go through num(); undefined and false
 * leave the attribute out). `children`: strings from el() or text(), or nested arrays.
 */
export function el(name, attrs = {}, ...children) {
  const a = Object.entries(attrs)
    .filter(([, v]) => v !== undefined && v !== false)
    .map(([k, v]) => ` ${k}="${typeof v === 'number' ? num(v) : esc(v)}"`)
    .join('');
  const body = children.flat(Infinity).filter((c) => c !== undefined && c !== false && c !== '').join('');
  return body ? `<${name}${a}>${body}</${name}>` : `<${name}${a}/>`;
}

/** Character data, escaped. */
export function text(s) {
  return esc(s);
}

/** The whole document: an <svg> root of `width` × `height` user units. */
export function svgDocument(width, height, ...children) {
  return `<?xml version="1.0" encoding="UTF-8"?>\n${el(
    'svg',
    { xmlns: 'http://www.w3.org/2000/svg', version: '1.1', width, height, viewBox: `0 0 ${num(width)} ${num(height)}` },
    ...children,
  )}\n`;
}

/** Axis ticks from 0 to at least `max`: about `count` steps of 1, 2 or 5 × 10^k. */
export function niceTicks(max, count = 4) {
  const m = max > 0 ? max : 1;
  const raw = m / count;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((f) => f * p).find((s) => s >= raw);
  const top = Math.ceil(m / step) * step;
  const ticks = [];
  for (let v = 0; v <= top + step / 2; v += step) ticks.push(Math.round(v / p) * p);
  return { step, top, ticks };
}

/** 12345 -> "12,345" (fixed locale, so the picture does not depend on the machine's). */
export function thousands(n) {
  return Math.round(n)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}
