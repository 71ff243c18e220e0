// Bare JID normalisation for archive ownership and peers (design.md invariant 4: the owner is the
// stamped bare JID, normalised), by the code base's one JID parser (src/jid): the archive's hash of
// an owner and the XMPP layer's stamped sender agree by construction.
import { AppError, ErrorCode } from '../errors/index.js';
import { parseJid } from '../jid/index.js';

/** `local@domain` or `domain`, normalised; BadInput for full JIDs and malformed input. */
export function normaliseBareJid(jid: unknown): string {
  if (typeof jid !== 'string') throw new AppError(ErrorCode.BadInput, 'invalid bare JID: not a string');
  const parsed = parseJid(jid);
  if (parsed.resource !== undefined || jid.includes('/'))
    throw new AppError(ErrorCode.BadInput, 'invalid bare JID: has a resource (expected a bare JID)');
  return parsed.bare;
}
