// Known-answer tests from Project Wycheproof for the primitives sp1 rests on: X25519, Ed25519,
// ChaCha20-Poly1305 and XChaCha20-Poly1305, on both crypto backends. Vectors live outside the
// project (see ../shared/vectors/README.md); missing or empty files skip locally and fail under CI=true.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { aeadOpen, backendFor, ed25519Verify, type AeadAlg } from '../../../src/keys/sodium.js';
import { CI, describeBackends } from './backends.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const DIR = process.env.WYCHEPROOF_DIR ?? join(ROOT, '../shared/vectors/wycheproof');

interface Vector {
  tcId: number;
  result: 'valid' | 'invalid' | 'acceptable';
  [field: string]: unknown;
}
interface Group {
  tests: Vector[];
  [field: string]: unknown;
}

function load(file: string): Group[] | string {
  const path = join(DIR, file);
  if (!existsSync(path)) return `${path} is missing (set WYCHEPROOF_DIR)`;
  const text = readFileSync(path, 'utf8');
  if (text.trim() === '') return `${path} is empty`;
  const parsed = JSON.parse(text) as { testGroups?: Group[] };
  const groups = parsed.testGroups ?? [];
  if (groups.reduce((n, g) => n + g.tests.length, 0) === 0) return `${path} holds no test vectors`;
  return groups;
}

const hex = (v: unknown): Uint8Array => new Uint8Array(Buffer.from(String(v), 'hex'));
const eq = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

/** Declares one test per vector file, honouring the skip/fail rule for a missing file. */
function vectors(file: string, check: (g: Group, v: Vector) => void): void {
  const groups = load(file);
  if (typeof groups === 'string') {
    if (CI) it(`${file}: vector file must be present under CI`, () => expect.fail(groups));
    else it.skip(`${file}: skipped, ${groups}`, () => undefined);
    return;
  }
  const total = groups.reduce((n, g) => n + g.tests.length, 0);
  it(`${file}: all ${total} vectors give the expected result`, () => {
    let ran = 0;
    for (const g of groups) for (const v of g.tests) { check(g, v); ran++; }
    expect(ran).toBe(total);
  });
}

/** Runs `fn`; a throw counts as rejection. */
function attempt<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

describeBackends('Wycheproof', (backend) => {
  vectors('x25519_test.json', (_g, v) => {
    const shared = attempt(() => backendFor(backend).scalarmult(hex(v.private), hex(v.public)));
    const matches = shared !== undefined && eq(shared, hex(v.shared));
    if (v.result === 'valid') expect(matches, `x25519 tcId ${v.tcId}: valid vector must agree`).toBe(true);
    else if (v.result === 'invalid') expect(matches, `x25519 tcId ${v.tcId}: invalid vector must be rejected`).toBe(false);
    else expect(shared === undefined || matches, `x25519 tcId ${v.tcId}: acceptable vector computed a wrong value`).toBe(true);
  });

  vectors('ed25519_test.json', (g, v) => {
    const pk = hex((g.publicKey as { pk: string }).pk);
    const ok = ed25519Verify(hex(v.sig), hex(v.msg), pk);
    if (v.result === 'valid') expect(ok, `ed25519 tcId ${v.tcId}: valid signature must verify`).toBe(true);
    else if (v.result === 'invalid') expect(ok, `ed25519 tcId ${v.tcId}: invalid signature must be rejected`).toBe(false);
  });

  const aead = (name: string, alg: AeadAlg, viaEnvelope: boolean) =>
    (v: Vector): void => {
      const b = backendFor(backend);
      const [key, iv, aad, msg] = [hex(v.key), hex(v.iv), hex(v.aad), hex(v.msg)];
      const sealed = new Uint8Array([...hex(v.ct), ...hex(v.tag)]);
      const opened = attempt(() => b.aeadDecrypt(alg, sealed, aad, iv, key));
      const ok = opened !== undefined && eq(opened, msg);
      if (v.result === 'valid') {
        expect(ok, `${name} tcId ${v.tcId}: valid ciphertext must decrypt`).toBe(true);
        const out = attempt(() => b.aeadEncrypt(alg, msg, aad, iv, key));
        expect(out !== undefined && eq(out, sealed), `${name} tcId ${v.tcId}: encryption must match`).toBe(true);
      } else if (v.result === 'invalid') {
        expect(ok, `${name} tcId ${v.tcId}: invalid ciphertext must be rejected`).toBe(false);
      }
      // The production layout nonce ‖ ct ‖ tag through aeadOpen (24-byte nonces and 32-byte keys only).
      if (viaEnvelope && iv.length === 24 && key.length === 32 && v.result !== 'acceptable') {
        const mine = aeadOpen(key, new Uint8Array([...iv, ...sealed]), aad);
        expect(mine !== undefined && eq(mine, msg), `aeadOpen tcId ${v.tcId}: must agree with the vector`).toBe(v.result === 'valid');
      }
    };

  vectors('chacha20_poly1305_test.json', (_g, v) => aead('chacha20-poly1305', 'chacha20poly1305', false)(v));
  vectors('xchacha20_poly1305_test.json', (_g, v) => aead('xchacha20-poly1305', 'xchacha20poly1305', true)(v));
});
