// How large a sealed item may be on the wire (design.md "Limits"). The XMPP server bounds every
// stanza (Prosody: 256 KiB on c2s by default) and a stanza over it ends the stream that sent it.
// A submitted item travels on wrapped: in a delivery (message, item, origin, delay) and in a MAM
// result (result, forwarded, delay, message). An item is accepted only if it still fits once
// wrapped, so nothing is stored that cannot be delivered or read back.
import type { EnvelopeWire } from '../keys/index.js';

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
