// Key attestations (issue 18, part 2; design.md "Trust": "attestations ... can make a key
// `verified` without an in-person fingerprint check"). An X.509 attestation is a certificate
// chain, leaf first, whose leaf certifies the device's Ed25519 identity key itself (RFC 8410) and
// names the JID (subjectAltName id-on-xmppAddr, RFC 6120 §13.7.1.4, or URI xmpp:, or the subject
// CN); it is checked with node:crypto's X509Certificate up to a CA the agent is configured to
// trust. Other items (an OpenPGP signature, ...) are opaque and labelled: shown, never trusted.
import { X509Certificate } from 'node:crypto';
import { AppError, ErrorCode } from '../errors/index.js';
import { bareJid } from '../jid/index.js';

export interface X509Attestation {
  readonly kind: 'x509';
  /** DER certificates, leaf first, then intermediates (the root may be left out). */
  readonly chain: readonly Uint8Array[];
}

export interface OpaqueAttestation {
  readonly kind: 'opaque';
  /** What it is, e.g. `openpgp`: lower-case letters, digits and dashes. */
  readonly label: string;
  /** Printable text (e.g. an ASCII-armoured signature) for a person to check. */
  readonly text: string;
}

export type Attestation = X509Attestation | OpaqueAttestation;

/**
 * Bounds of the attestations one device may publish (invariant 5). `totalBytes` (certificates and
 * texts together) keeps a fetch of 32 devices with their attestations within a 256 KiB stanza.
 */
export const ATTESTATION_LIMITS = Object.freeze({ items: 4, chainCerts: 4, certBytes: 4096, labelChars: 32, textChars: 4096, totalBytes: 4096 });

export type AttestationResult =
  | { readonly ok: true; readonly subject: string; readonly issuer: string; readonly validTo: number }
  | { readonly ok: false; readonly reason: string };

const LABEL = /^[a-z0-9][a-z0-9-]*$/;
// Printable text and line breaks only: what a terminal shows as it is.
const PRINTABLE = /^[\t\n\r\x20-\x7e]*$/;

/** Checks one attestation's shape and sizes; throws AppError (BadInput, ResourceLimit). */
export function checkAttestationShape(a: Attestation, where = 'attestation'): Attestation {
  if (a.kind === 'x509') {
    if (a.chain.length < 1 || a.chain.length > ATTESTATION_LIMITS.chainCerts)
      throw new AppError(ErrorCode.ResourceLimit, `${where}: 1 to ${ATTESTATION_LIMITS.chainCerts} certificates, got ${a.chain.length}`);
    for (const der of a.chain)
      if (!(der instanceof Uint8Array) || der.length === 0 || der.length > ATTESTATION_LIMITS.certBytes)
        throw new AppError(ErrorCode.ResourceLimit, `${where}: a certificate of 1 to ${ATTESTATION_LIMITS.certBytes} bytes expected`);
    return a;
  }
  if (a.kind === 'opaque') {
    if (typeof a.label !== 'string' || a.label.length > ATTESTATION_LIMITS.labelChars || !LABEL.test(a.label))
      throw new AppError(ErrorCode.BadInput, `${where}: label must be 1-${ATTESTATION_LIMITS.labelChars} of a-z, 0-9, -`);
    if (typeof a.text !== 'string' || a.text.length > ATTESTATION_LIMITS.textChars || !PRINTABLE.test(a.text))
      throw new AppError(ErrorCode.BadInput, `${where}: text must be printable ASCII, at most ${ATTESTATION_LIMITS.textChars} characters`);
    return a;
  }
  throw new AppError(ErrorCode.BadInput, `${where}: unknown kind`);
}

/** Checks a device's whole list: each item's shape, their count and their total size. */
export function checkAttestations(items: readonly Attestation[]): Attestation[] {
  if (items.length > ATTESTATION_LIMITS.items)
    throw new AppError(ErrorCode.ResourceLimit, `at most ${ATTESTATION_LIMITS.items} attestations, got ${items.length}`);
  let total = 0;
  for (const [i, a] of items.entries()) {
    checkAttestationShape(a, `attestation[${i}]`);
    total += a.kind === 'x509' ? a.chain.reduce((n, c) => n + c.length, 0) : a.text.length;
  }
  if (total > ATTESTATION_LIMITS.totalBytes)
    throw new AppError(ErrorCode.ResourceLimit, `attestations of ${total} bytes: at most ${ATTESTATION_LIMITS.totalBytes} per device`);
  return [...items];
}

/** Parses PEM text (one or more CERTIFICATE blocks) into DER certificates, in order. */
export function certificatesFromPem(pem: string): Uint8Array[] {
  const blocks = [...pem.matchAll(/-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----/g)];
  if (blocks.length === 0) throw new AppError(ErrorCode.BadInput, 'no PEM CERTIFICATE block found');
  return blocks.map((b) => new Uint8Array(Buffer.from((b[1] ?? '').replace(/\s+/g, ''), 'base64')));
}

function certOf(der: Uint8Array): X509Certificate | undefined {
  try {
    return new X509Certificate(der);
  } catch {
    return undefined;
  }
}

/** The JIDs a certificate names: subjectAltName XmppAddr and xmpp: URIs, else the subject CN. */
export function certificateJids(cert: X509Certificate): string[] {
  const names: string[] = [];
  for (const entry of (cert.subjectAltName ?? '').split(', ')) {
    const m = /^(?:othername:XmppAddr:|URI:xmpp:)(.+)$/.exec(entry);
    if (m?.[1] !== undefined) names.push(m[1]);
  }
  if (names.length === 0) for (const line of cert.subject.split('\n')) if (line.startsWith('CN=')) names.push(line.slice(3));
  return names.flatMap((n) => {
    try {
      return [bareJid(n)];
    } catch {
      return [];
    }
  });
}

function rawEd25519(cert: X509Certificate): Uint8Array | undefined {
  const key = cert.publicKey;
  if (key.asymmetricKeyType !== 'ed25519') return undefined;
  const x = key.export({ format: 'jwk' }).x;
  return typeof x === 'string' ? new Uint8Array(Buffer.from(x, 'base64url')) : undefined;
}

function timeProblem(cert: X509Certificate, now: number, what: string): string | undefined {
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  if (!(now >= from)) return `${what} not valid before ${cert.validFrom}`;
  if (!(now <= to)) return `${what} expired ${cert.validTo}`;
  return undefined;
}

const issuedBy = (cert: X509Certificate, issuer: X509Certificate): boolean =>
  issuer.ca && cert.checkIssued(issuer) && cert.verify(issuer.publicKey);

export interface X509CheckOptions {
  /** The bare JID the key must belong to. */
  jid: string;
  /** The device's Ed25519 identity key (32 bytes). */
  identityKey: Uint8Array;
  /** CA certificates the agent trusts (see trustedCasFromPem). */
  trustedCas: readonly X509Certificate[];
  now: number;
}

/**
 * Checks an X.509 attestation: the leaf certifies exactly this identity key, names this JID, and
 * chains (each signature, CA flag and validity period checked at `now`) to a trusted CA.
 */
export function verifyX509Attestation(a: X509Attestation, o: X509CheckOptions): AttestationResult {
  const certs = a.chain.slice(0, ATTESTATION_LIMITS.chainCerts).map(certOf);
  const leaf = certs[0];
  if (leaf === undefined || certs.some((c) => c === undefined)) return { ok: false, reason: 'a certificate does not parse' };
  const key = rawEd25519(leaf);
  if (key === undefined || key.length !== o.identityKey.length || !key.every((b, i) => b === o.identityKey[i]))
    return { ok: false, reason: 'the certificate is for another key than this identity key' };
  const jid = bareJid(o.jid);
  const named = certificateJids(leaf);
  if (!named.includes(jid)) return { ok: false, reason: `the certificate names ${named.join(', ') || 'no JID'}, not ${jid}` };
  if (leaf.ca) return { ok: false, reason: 'the leaf is a CA certificate' };
  const rest = certs.slice(1) as X509Certificate[];
  let current = leaf;
  for (let depth = 0; depth <= rest.length; depth++) {
    const expired = timeProblem(current, o.now, depth === 0 ? 'the certificate' : `intermediate ${current.subject.replace(/\n/g, ', ')}`);
    if (expired !== undefined) return { ok: false, reason: expired };
    const anchor = o.trustedCas.find((ca) => issuedBy(current, ca));
    if (anchor !== undefined) {
      const anchorTime = timeProblem(anchor, o.now, 'the trusted CA');
      if (anchorTime !== undefined) return { ok: false, reason: anchorTime };
      return { ok: true, subject: leaf.subject.replace(/\n/g, ', '), issuer: anchor.subject.replace(/\n/g, ', '), validTo: Date.parse(leaf.validTo) };
    }
    const next = rest.find((c) => c !== current && issuedBy(current, c));
    if (next === undefined) break;
    current = next;
  }
  return { ok: false, reason: 'no chain to a trusted CA' };
}

/** Loads trusted CA certificates from PEM text; each must be a CA. */
export function trustedCasFromPem(pem: string): X509Certificate[] {
  return certificatesFromPem(pem).map((der, i) => {
    const cert = certOf(der);
    if (cert === undefined || !cert.ca) throw new AppError(ErrorCode.Config, `trusted CA certificate ${i + 1} is not a CA certificate`);
    return cert;
  });
}
