// X.509 key attestations (issue 18, part 2): a chain from a CA the agent trusts, whose leaf
// certifies exactly the device's identity key and names its JID, makes the key `verified`; an
// expired certificate, another JID, an untrusted CA, a swapped key, a non-CA in the middle are
// each refused with the reason. Certificates are made by the openssl CLI in a temp dir.
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AppError,
  certificatesFromPem,
  checkAttestationShape,
  ErrorCode,
  trustedCasFromPem,
  verifyX509Attestation,
  type X509Attestation,
} from './imports.js';
import { pki, type Ca, type Pki } from './pki.js';

const rawKey = (): Uint8Array => {
  const jwk = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' });
  return new Uint8Array(Buffer.from(jwk.x ?? '', 'base64url'));
};
const chain = (...pems: string[]): X509Attestation => ({ kind: 'x509', chain: pems.flatMap(certificatesFromPem) });

describe('X.509 attestations', () => {
  let p: Pki;
  let root: Ca;
  let issuing: Ca;
  let other: Ca;
  const alice = 'alice@example.org';
  const ik = rawKey();
  const now = Date.now() + 300_000; // checked a little later than the certificates are made

  beforeAll(() => {
    p = pki();
    root = p.root('Hospital Root');
    issuing = p.intermediate('Hospital Agents CA', root);
    other = p.root('Someone Else Root');
  });
  afterAll(() => p.close());
  const check = (a: X509Attestation, o: { jid?: string; identityKey?: Uint8Array; now?: number; cas?: Ca[] } = {}) =>
    verifyX509Attestation(a, { jid: o.jid ?? alice, identityKey: o.identityKey ?? ik, now: o.now ?? now, trustedCas: (o.cas ?? [root]).map((c) => c.cert) });

  it('verifies a chain leaf -> intermediate -> trusted root, naming the JID and the subject', () => {
    const r = check(chain(p.leaf(ik, alice, issuing), issuing.pem));
    expect(r).toMatchObject({ ok: true, subject: `CN=${alice}, O=Test Hospital`, issuer: 'CN=Hospital Root, O=Test PKI' });
    // the JID is compared normalised; a leaf issued by the root itself needs no intermediate
    expect(check(chain(p.leaf(ik, alice, root)), { jid: 'Alice@Example.org' }).ok).toBe(true);
    // the intermediate may be the trusted one; the chain may include the root
    expect(check(chain(p.leaf(ik, alice, issuing)), { cas: [issuing] }).ok).toBe(true);
    expect(check(chain(p.leaf(ik, alice, issuing), issuing.pem, root.pem)).ok).toBe(true);
  });

  it('refuses an expired certificate', () => {
    const r = check(chain(p.leaf(ik, alice, issuing, { days: 1 }), issuing.pem), { now: now + 2 * 86_400_000 });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toMatch(/^the certificate expired /);
    const early = check(chain(p.leaf(ik, alice, issuing), issuing.pem), { now: now - 86_400_000 });
    expect(!early.ok && early.reason).toMatch(/^the certificate not valid before /);
  });

  it('refuses a certificate naming another JID', () => {
    const r = check(chain(p.leaf(ik, 'mallory@example.org', issuing), issuing.pem));
    expect(r).toEqual({ ok: false, reason: `the certificate names mallory@example.org, not ${alice}` });
  });

  it('refuses a chain to a CA the agent does not trust', () => {
    const foreign = p.intermediate('Look-alike Agents CA', other);
    expect(check(chain(p.leaf(ik, alice, foreign), foreign.pem))).toEqual({ ok: false, reason: 'no chain to a trusted CA' });
    // ... also when the untrusted root comes along in the chain
    expect(check(chain(p.leaf(ik, alice, foreign), foreign.pem, other.pem)).ok).toBe(false);
    expect(check(chain(p.leaf(ik, alice, issuing)))).toEqual({ ok: false, reason: 'no chain to a trusted CA' }); // intermediate missing
  });

  it('refuses a genuine certificate attached to a swapped key', () => {
    // As an attacker would: Alice's real certificate, published with the attacker's identity key.
    const genuine = chain(p.leaf(ik, alice, issuing), issuing.pem);
    const r = check(genuine, { identityKey: rawKey() });
    expect(r).toEqual({ ok: false, reason: 'the certificate is for another key than this identity key' });
  });

  it('refuses a chain through a certificate that is not a CA (a leaf issuing leaves)', () => {
    const notCa = p.intermediate('Some Device', issuing, { ca: false });
    expect(check(chain(p.leaf(ik, alice, notCa), notCa.pem, issuing.pem))).toEqual({ ok: false, reason: 'no chain to a trusted CA' });
  });

  it('refuses garbage and bounds the shapes', () => {
    expect(check({ kind: 'x509', chain: [Uint8Array.of(0x30, 0x03, 1, 2, 3)] })).toEqual({ ok: false, reason: 'a certificate does not parse' });
    const big = { kind: 'x509' as const, chain: [new Uint8Array(9000)] };
    expect(() => checkAttestationShape(big)).toThrow(AppError);
    expect(() => checkAttestationShape({ kind: 'x509', chain: Array.from({ length: 5 }, () => Uint8Array.of(1)) })).toThrow(/1 to 4 certificates/);
    expect(() => checkAttestationShape({ kind: 'opaque', label: 'OpenPGP!', text: 'x' })).toThrow(/label/);
    expect(() => checkAttestationShape({ kind: 'opaque', label: 'openpgp', text: 'bell \x07' })).toThrow(/printable/);
    expect(checkAttestationShape({ kind: 'opaque', label: 'openpgp', text: '-----BEGIN PGP SIGNATURE-----\n\niQ==\n-----END PGP SIGNATURE-----\n' }).kind).toBe('opaque');
    try {
      trustedCasFromPem(p.leaf(ik, alice, root));
      expect.unreachable();
    } catch (err) {
      expect(AppError.is(err, ErrorCode.Config)).toBe(true);
    }
    expect(trustedCasFromPem(root.pem + issuing.pem)).toHaveLength(2);
  });
});
