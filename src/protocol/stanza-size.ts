// How large a sealed item may be on the wire (design.md "Limits"). The XMPP server bounds every
// stanza (Prosody: 256 KiB on c2s by default) and a stanza over it ends the stream that sent it.
// A submitted item travels on wrapped: in a delivery (message, item, origin, delay) and in a MAM
// result (result, forwarded, delay, message). An item is accepted only if it still fits once
// wrapped, so nothing is stored that cannot be delivered or read back.
import type { EnvelopeWire } from '../keys/index.js';
import type { Element } from '../xmpp/index.js';

/** Prosody's default c2s stanza limit, and the service's SEALPOST_MAX_STANZA_BYTES default. */
export const DEFAULT_MAX_STANZA_BYTES = 256 * 1024;

/** Room kept for what wraps an item on the way out, JIDs of up to 3 × 1,023 bytes included. */
export const WRAP_HEADROOM_BYTES = 8 * 1024;

/** The largest encoded sealed item (its `<sealed/>` element) that fits a stanza of `maxStanzaBytes` once wrapped. */
export function maxItemBytes(maxStanzaBytes: number): number {
  return maxStanzaBytes - WRAP_HEADROOM_BYTES;
}

/**
 * Encoded size of a sealed item from its wire form, without serialising it: its base64 fields and
 * JIDs exactly, its element and attribute syntax bounded from above.
 */
export function itemWireBytes(wire: EnvelopeWire): number {
  let n = 256 + Buffer.byteLength(wire.from) + Buffer.byteLength(wire.to) + wire.id.length + wire.payload.length;
  for (const b of wire.blocks) n += 96 + b.box.length;
  return n;
}

// What ltx's escaping adds per character (escape.js): text escapes & < >, attribute values also " '.
const TEXT_ESCAPES = /[&<>]/g;
const ATTR_ESCAPES = /["&'<>]/g;
const EXTRA: Readonly<Record<string, number>> = { '&': 4, '<': 3, '>': 3, '"': 5, "'": 5 };

function escapedBytes(s: string, escapes: RegExp): number {
  let n = Buffer.byteLength(s, 'utf8');
  escapes.lastIndex = 0;
  if (!escapes.test(s)) return n;
  escapes.lastIndex = 0;
  for (let m = escapes.exec(s); m !== null; m = escapes.exec(s)) n += EXTRA[m[0]] ?? 0;
  return n;
}

/**
 * UTF-8 size of `el` as ltx serialises it (`Buffer.byteLength(el.toString())`), without building
 * the string: a submission batch is hundreds of KiB, and serialising it only to measure it cost
 * the vault more CPU than checking its items (issue 16).
 */
export function stanzaBytes(el: Element): number {
  const name = Buffer.byteLength(el.name, 'utf8');
  let n = 1 + name; // <name
  for (const k in el.attrs) {
    const v: unknown = el.attrs[k];
    if (v === null || v === undefined) continue;
    n += 4 + Buffer.byteLength(k, 'utf8') + escapedBytes(typeof v === 'string' ? v : (v as number).toString(10), ATTR_ESCAPES); // ␠k="v"
  }
  if (el.children.length === 0) return n + 2; // />
  n += 1 + 3 + name; // > … </name>
  for (const child of el.children as unknown[]) {
    if (child === null || child === undefined) continue;
    if (typeof child === 'string') n += escapedBytes(child, TEXT_ESCAPES);
    else if (typeof (child as Element).write === 'function') n += stanzaBytes(child as Element);
    else n += escapedBytes((child as number).toString(10), TEXT_ESCAPES); // as ltx: toString(10)
  }
  return n;
}
