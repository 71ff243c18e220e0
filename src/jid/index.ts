// JID parsing and normalisation after RFC 7622, held to what the XMPP server itself does: Prosody
// (and RFC 6122's servers) prepare localparts with stringprep's nodeprep (RFC 3920 App. A: B.1, B.2
// case folding, NFKC, Unicode 3.2) and domainparts with nameprep. ASCII is lower-cased, which is
// what both do; beyond ASCII we give the server's answer or refuse, never a third spelling: a
// character whose meaning differs between Unicode 3.2 and today (compatibility forms, upper case
// outside the stable Latin-1/Latin Extended-A/Greek capitals, B.2 folds toLowerCase lacks) is
// refused, so two accounts the server keeps apart never share an archive (issue 14, attack 10).
// The resourcepart keeps its case (OpaqueString). The one normaliser of the code base; a test
// compares it with Prosody's util.encodings over every code point.
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

const ASCII = /^[\x00-\x7f]*$/;
// B.1 (mapped to nothing by nodeprep): refused rather than silently dropped.
const MAPPED_TO_NOTHING = /[\u00ad\u034f\u1806\u180b-\u180d\u200b-\u200d\u2060\ufe00-\ufe0f\ufeff]/u;
// C.1.2, C.2.2, C.3, C.6, C.7, C.8, C.9 of RFC 3454 (format, private use, separators, ...).
const PROHIBITED = /[\p{Cf}\p{Co}\p{Zs}\p{Zl}\p{Zp}\ufff9-\ufffd\u2ff0-\u2ffb]/u;
// B.2 folds that toLowerCase does not make (full case folding).
const FOLDS: ReadonlyMap<string, string> = new Map([
  ['\u00df', 'ss'],
  ['\u03c2', '\u03c3'],
  ['\u0130', 'i\u0307'],
]);
// Right-to-left blocks (bidi R and AL): RFC 3454 §6 wants such a part wholly right-to-left.
const RTL = /[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefe\u{10800}-\u{10fff}\u{1e800}-\u{1efff}]/u;
const RTL_OK = /^[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefe\u{10800}-\u{10fff}\u{1e800}-\u{1efff}0-9._-]*$/u;
const RTL_EDGE = /^[\p{L}]$/u;
// Capitals whose lower case was the same in Unicode 3.2 (nodeprep's tables) as it is today.
const STABLE_CAPITAL = /[\u00c0-\u00de\u0100-\u017e\u0391-\u03ab]/u;

/** The nodeprep/nameprep answer for `part`, or a refusal when ours might differ from the server's. */
function fold(part: string, label: string, input: string): string {
  if (ASCII.test(part)) return part.toLowerCase();
  for (const c of part) if (c.normalize('NFC') !== c) bad(`character ${JSON.stringify(c)} in ${label} is not in normal form (write its canonical form)`, input);
  const nfc = part.normalize('NFC');
  if (MAPPED_TO_NOTHING.test(nfc) || PROHIBITED.test(nfc)) bad(`format, private-use or separator character in ${label}`, input);
  if (nfc.normalize('NFKC') !== nfc) bad(`compatibility character in ${label} (write its plain form)`, input);
  let out = '';
  for (const c of nfc) {
    const fixed = FOLDS.get(c);
    if (fixed !== undefined) out += fixed;
    else if (c.length === 1 && c.charCodeAt(0) < 0x80) out += c.toLowerCase();
    else if (c.toLowerCase() !== c && !STABLE_CAPITAL.test(c)) bad(`upper-case character ${JSON.stringify(c)} in ${label} (write it in lower case)`, input);
    else if (c.toLowerCase().toUpperCase().toLowerCase().normalize('NFC') !== c.toLowerCase()) bad(`character ${JSON.stringify(c)} in ${label} folds differently on the server`, input);
    else out += c.toLowerCase();
  }
  if (RTL.test(out)) {
    const cps = [...out];
    const edges = [cps[0] ?? '', cps[cps.length - 1] ?? ''];
    if (!RTL_OK.test(out) || !edges.every((c) => RTL_EDGE.test(c) && RTL.test(c))) bad(`${label} mixes right-to-left and other characters`, input);
  }
  if (out.normalize('NFC') !== out) bad(`${label} is not stable under normalisation`, input);
  return out;
}

/** Parses and normalises a JID; AppError(BadInput) when it is not a valid address. */
export function parseJid(input: string): Jid {
  if (typeof input !== 'string') throw new TypeError('parseJid: expected a string');
  const slash = input.indexOf('/');
  const bareRaw = slash === -1 ? input : input.slice(0, slash);
  const resourceRaw = slash === -1 ? undefined : input.slice(slash + 1);
  const at = bareRaw.indexOf('@');
  const localRaw = at === -1 ? undefined : bareRaw.slice(0, at);
  let domain = fold(at === -1 ? bareRaw : bareRaw.slice(at + 1), 'domainpart', input);
  if (domain.endsWith('.')) domain = domain.slice(0, -1); // RFC 7622 §3.2: strip one trailing dot
  checkPart(domain, 'domainpart', input);
  if (DOMAIN_FORBIDDEN.test(domain)) bad('forbidden character in domainpart', input);

  let local: string | undefined;
  if (localRaw !== undefined) {
    local = fold(localRaw, 'localpart', input);
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
