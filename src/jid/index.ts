// JID parsing and normalisation after RFC 7622 (XMPP addresses), simplified: NFC, then lowercase
// for the localpart (UsernameCaseMapped ~ Unicode lowercase) and the domainpart, then NFC again
// (case folding can leave a non-NFC sequence; the result is a fixed point); the resourcepart
// keeps its case (OpaqueString). Not a full PRECIS implementation: it rejects what §3.3.1 forbids
// in localparts and control/space characters anywhere, which is what authorisation needs (the
// owner is the bare JID the server stamped, compared after this normalisation). The one normaliser
// of the code base: the XMPP layer, the archive's owners and peers and the directory all use it.
import { AppError, ErrorCode } from '../errors/index.js';

export interface Jid {
  local: string | undefined;
  domain: string;
  resource: string | undefined;
  /** local@domain (or domain), normalised. */
  bare: string;
  /** bare/resource when there is a resource, else bare. */
  full: string;
}

const MAX_PART_BYTES = 1023; // RFC 7622 §3.2, §3.3, §3.4
const LOCAL_FORBIDDEN = /["&'/:<>@\s]/u; // RFC 7622 §3.3.1
const CONTROL = /[\p{Cc}\p{Cs}\p{Cn}]/u;
const DOMAIN_FORBIDDEN = /["&'<>@/\s\\]/u; // no host name holds these (RFC 7622 §3.2)

function bad(what: string, input: string): never {
  throw new AppError(ErrorCode.BadInput, `invalid JID ${JSON.stringify(input.slice(0, 80))}: ${what}`);
}

function checkPart(part: string, label: string, input: string): void {
  if (part.length === 0) bad(`empty ${label}`, input);
  if (Buffer.byteLength(part, 'utf8') > MAX_PART_BYTES) bad(`${label} longer than ${MAX_PART_BYTES} bytes`, input);
  if (CONTROL.test(part)) bad(`control or unassigned character in ${label}`, input);
}

/** NFC, lower case, NFC again: a fixed point. */
const fold = (part: string): string => part.normalize('NFC').toLowerCase().normalize('NFC');

/** Parses and normalises a JID; AppError(BadInput) when it is not a valid address. */
export function parseJid(input: string): Jid {
  if (typeof input !== 'string') throw new TypeError('parseJid: expected a string');
  const slash = input.indexOf('/');
  const bareRaw = slash === -1 ? input : input.slice(0, slash);
  const resourceRaw = slash === -1 ? undefined : input.slice(slash + 1);
  const at = bareRaw.indexOf('@');
  const localRaw = at === -1 ? undefined : bareRaw.slice(0, at);
  let domain = fold(at === -1 ? bareRaw : bareRaw.slice(at + 1));
  if (domain.endsWith('.')) domain = domain.slice(0, -1); // RFC 7622 §3.2: strip one trailing dot
  checkPart(domain, 'domainpart', input);
  if (DOMAIN_FORBIDDEN.test(domain)) bad('forbidden character in domainpart', input);

  let local: string | undefined;
  if (localRaw !== undefined) {
    local = fold(localRaw);
    checkPart(local, 'localpart', input);
    if (LOCAL_FORBIDDEN.test(local)) bad('forbidden character in localpart', input);
  }
  let resource: string | undefined;
  if (resourceRaw !== undefined) {
    resource = resourceRaw.normalize('NFC');
    checkPart(resource, 'resourcepart', input);
  }
  const bare = local === undefined ? domain : `${local}@${domain}`;
  return { local, domain, resource, bare, full: resource === undefined ? bare : `${bare}/${resource}` };
}

/** The normalised bare JID of `input` (any resource dropped). */
export function bareJid(input: string): string {
  return parseJid(input).bare;
}

/** True when both addresses name the same account (bare JIDs equal after normalisation). */
export function sameBareJid(a: string, b: string): boolean {
  return bareJid(a) === bareJid(b);
}
