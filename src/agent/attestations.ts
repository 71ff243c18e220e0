// Key attestations on the agent's side (issue 18, part 2; design.md "Trust"): this device's own,
// kept in <dir>/attestations.json and published with every bundle, and a contact's, judged against
// the CA certificates this agent is configured to trust. An X.509 attestation that checks out makes
// the key `verified` with its subject; opaque items (OpenPGP, ...) are shown for a person to check.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { X509Certificate } from 'node:crypto';
import { AppError, ErrorCode } from '../errors/index.js';
import { checkAttestations, fromBase64, toBase64, verifyX509Attestation, type Attestation } from '../keys/index.js';

export interface AttestationPolicy {
  /** CA certificates whose attestations make a key `verified`. */
  trustedCas: readonly X509Certificate[];
  /** Refuse contacts' devices without an attestation that checks out (default false). */
  require: boolean;
}

/** One attestation as shown to the application or a person. */
export type AttestationView =
  | { kind: 'x509'; ok: true; subject: string; issuer: string; validTo: number }
  | { kind: 'x509'; ok: false; reason: string }
  | { kind: 'opaque'; label: string; text: string };

export interface AttestationVerdict {
  /** The first X.509 attestation that checked out, if any. */
  verified: { subject: string; issuer: string } | undefined;
  items: AttestationView[];
}

/** Judges a device's attestations: each X.509 one against the trusted CAs at `now`. */
export function judgeAttestations(
  items: readonly Attestation[],
  o: { jid: string; identityKey: Uint8Array; trustedCas: readonly X509Certificate[]; now: number },
): AttestationVerdict {
  let verified: AttestationVerdict['verified'];
  const views = items.map((a): AttestationView => {
    if (a.kind === 'opaque') return { kind: 'opaque', label: a.label, text: a.text };
    const r = verifyX509Attestation(a, o);
    if (!r.ok) return { kind: 'x509', ok: false, reason: r.reason };
    verified ??= { subject: r.subject, issuer: r.issuer };
    return { kind: 'x509', ok: true, subject: r.subject, issuer: r.issuer, validTo: r.validTo };
  });
  return { verified, items: views };
}

/** The policy's refusal of a device that no trusted CA vouches for (it may get one: not permanent). */
export function requireAttested(policy: AttestationPolicy | undefined, verdict: AttestationVerdict, jid: string, device: number): void {
  if (policy?.require !== true || verdict.verified !== undefined) return;
  const why = verdict.items.flatMap((v) => (v.kind === 'x509' && !v.ok ? [v.reason] : []));
  throw new AppError(
    ErrorCode.UntrustedKey,
    `${jid} device ${device}: no attestation from a trusted CA${why.length > 0 ? ` (${why.join('; ')})` : ''}, and the policy requires one`,
    { permanent: false },
  );
}

const FILE = 'attestations.json';

type Stored = { kind: 'x509'; chain: string[] } | { kind: 'opaque'; label: string; text: string };

/** This device's own attestations (public material: a plain JSON file beside the key file). */
export function loadOwnAttestations(dir: string): Attestation[] {
  const path = join(dir, FILE);
  if (!existsSync(path)) return [];
  let stored: unknown;
  try {
    stored = JSON.parse(readFileSync(path, 'utf8'));
  } catch (cause) {
    throw new AppError(ErrorCode.Corrupt, `${path}: not JSON`, { cause });
  }
  if (!Array.isArray(stored)) throw new AppError(ErrorCode.Corrupt, `${path}: expected a list`);
  return checkAttestations(
    (stored as Stored[]).map((s, i): Attestation =>
      s.kind === 'x509' && Array.isArray(s.chain)
        ? { kind: 'x509', chain: s.chain.map((c, j) => fromBase64(`${FILE}[${i}].chain[${j}]`, c, 1, 64 * 1024)) }
        : { kind: 'opaque', label: String((s as { label?: unknown }).label), text: String((s as { text?: unknown }).text) },
    ),
  );
}

/** Adds one attestation to this device's list (bounded as the directory bounds it); returns the list. */
export function addOwnAttestation(dir: string, attestation: Attestation): Attestation[] {
  const list = checkAttestations([...loadOwnAttestations(dir), attestation]);
  const stored: Stored[] = list.map((a) => (a.kind === 'x509' ? { kind: 'x509', chain: a.chain.map(toBase64) } : a));
  const path = join(dir, FILE);
  writeFileSync(`${path}.tmp`, JSON.stringify(stored, null, 2), { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
  return list;
}
