// The recipient checks a submission needs the key directory for (issue 14; design.md "Ingest"):
// every device block names a published device, and a recipient's history block is kept only for
// a recipient who published an archive key. Ingest runs them where it holds the directory (one
// process); the store worker always runs them on the shard's own directory (issue 15), so an
// ingest with no data answers the rest and the owner refuses these with the same stanza.
import { AppError, ErrorCode } from '../errors/index.js';
import type { EnvelopeWire } from '../keys/index.js';

/** What the checks read from the key directory. */
export interface DeviceLookup {
  devices(jid: string): number[];
  hasArchiveKey(jid: string): boolean;
}

/** Throws AppError(NotFound) naming the first block the recipient's directory entries refuse. */
export function checkRecipient(env: Pick<EnvelopeWire, 'to' | 'blocks'>, directory: DeviceLookup): void {
  const known = directory.devices(env.to);
  if (known.length === 0) throw new AppError(ErrorCode.NotFound, `unknown recipient ${env.to}: no published devices`);
  const knownSet = new Set(known);
  for (const b of env.blocks) {
    if (b.device !== undefined && !knownSet.has(b.device)) throw new AppError(ErrorCode.NotFound, `recipient ${env.to} has no device ${b.device}`);
    // A block sealed to a made-up key must not force a copy into an archive that chose transit
    // only; a sender's own copy goes to its own archive: its choice.
    if (b.ak === 'recipient' && !directory.hasArchiveKey(env.to))
      throw new AppError(ErrorCode.NotFound, `${env.to} published no archive key: no history copy is kept for it`);
  }
}
