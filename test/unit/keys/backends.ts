// Runs a suite once per crypto backend (native libsodium, its WebAssembly build). Locally a
// backend that does not load is skipped with the reason; under CI=true both must be present, so
// a missing native binary fails the run instead of silently testing one backend.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cryptoBackend, initSodium, nativeLoadError, type BackendName } from '../../../src/keys/sodium.js';

export const CI = process.env.CI === 'true';
export const BACKENDS: readonly BackendName[] = ['native', 'wasm'];

await initSodium();
const nativeMissing = nativeLoadError();

/** Why `name` cannot run here, or undefined when it can. */
export function missingBackend(name: BackendName): string | undefined {
  return name === 'native' ? nativeMissing : undefined;
}

/** `body` once per backend, that backend selected for the suite's duration (then restored). */
export function describeBackends(title: string, body: (name: BackendName) => void): void {
  for (const name of BACKENDS) {
    const missing = missingBackend(name);
    if (missing !== undefined) {
      if (CI) describe(`${title} (${name})`, () => it(`${name} backend must load under CI`, () => expect.fail(missing)));
      else describe.skip(`${title} (${name}): skipped, ${missing}`, () => it('not run', () => undefined));
      continue;
    }
    describe(`${title} (${name})`, () => {
      let before: BackendName;
      beforeAll(async () => {
        before = cryptoBackend();
        await initSodium(name);
      });
      afterAll(async () => {
        await initSodium(before);
      });
      body(name);
    });
  }
}
