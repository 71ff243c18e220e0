// Bare JID normalisation for archive ownership and peers (design.md invariant 4: the owner is the
// stamped bare JID, normalised). An approximation of RFC 7622 for the archive's needs: NFC, case
// folded local part (UsernameCaseMapped) and domain, RFC 7622 §3.3.1 forbidden local characters.
import { AppError, ErrorCode } from '../errors/index.js';

const MAX_PART_BYTES = 1023; // RFC 7622 §3.2, §3.3
const FORBIDDEN_ANYWHERE = /[\u0000-\u0020\u007f-\u009f\u2028\u2029]/u;
const FORBIDDEN_LOCAL = /["&'/:<>@]/u;

function bad(reason: string): AppError {
  return new AppError(ErrorCode.BadInput, `invalid bare JID: ${reason}`);
}

/** `local@domain` or `domain`, lower-cased and NFC; BadInput for full JIDs and malformed input. */
export function normaliseBareJid(jid: unknown): string {
  if (typeof jid !== 'string') throw bad('not a string');
  const s = jid.normalize('NFC');
  if (s.length === 0) throw bad('empty');
  if (s.includes('/')) throw bad('has a resource (expected a bare JID)');
  if (FORBIDDEN_ANYWHERE.test(s)) throw bad('contains whitespace or control characters');
  const at = s.indexOf('@');
  const local = at >= 0 ? s.slice(0, at) : '';
  let domain = at >= 0 ? s.slice(at + 1) : s;
  if (at >= 0 && local.length === 0) throw bad('empty local part');
  if (domain.endsWith('.')) domain = domain.slice(0, -1);
  if (domain.length === 0) throw bad('empty domain');
  if (domain.includes('@') || FORBIDDEN_LOCAL.test(local)) throw bad('forbidden character');
  if (Buffer.byteLength(local) > MAX_PART_BYTES || Buffer.byteLength(domain) > MAX_PART_BYTES)
    throw bad('part longer than 1023 bytes');
  // Case folding can leave a non-NFC sequence; normalise again so the result is a fixed point.
  const fold = (x: string) => x.toLowerCase().normalize('NFC');
  return local.length > 0 ? `${fold(local)}@${fold(domain)}` : fold(domain);
}
