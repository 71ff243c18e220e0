// The service's crypto start (issue 16): with native libsodium loaded, `wasm: 'lazy'` leaves the
// WebAssembly build unloaded (its memory is the service's RSS), X-Wing then fails with a clear
// error instead of running on nothing, and loadWasm() brings it in on demand. Its own file: the
// module state (what is loaded) is per test file.
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { cryptoBackend, initSodium, loadWasm, nativeLoadError, randomBytes, sodium } from '../../../src/keys/sodium.js';
import { silentLogger } from '../../../src/log/index.js';
import { deploymentKeys } from '../../../src/stores/index.js';
import { xwingEncapsulate, xwingKeyPair } from '../../../src/keys/xwing.js';

// Not backends.js: it initialises eagerly on import, and this file must start from nothing.
const CI = process.env.CI === 'true';
const missing = nativeLoadError();

describe.skipIf(missing !== undefined && !CI)('lazy WebAssembly build', () => {
  it('runs native without loading the WebAssembly build, and loads it when X-Wing is first asked for', async () => {
    expect(missing).toBeUndefined();
    // The service's first crypto step (main.ts) must not load it either.
    const slice = { mode: 'production' as const, dataDir: '/nonexistent', masterKey: nodeRandomBytes(32).toString('base64'), crypto: 'auto' as const };
    expect((await deploymentKeys(slice as unknown as Parameters<typeof deploymentKeys>[0], silentLogger())).requestBus).toHaveLength(32);
    expect(() => sodium()).toThrow(/not loaded/);
    expect(await initSodium('auto', { wasm: 'lazy' })).toBe('native');
    expect(cryptoBackend()).toBe('native');
    expect(randomBytes(8)).toHaveLength(8);
    expect(() => sodium()).toThrow(/WebAssembly libsodium \(X-Wing\) is not loaded/);
    expect(() => xwingKeyPair()).toThrow(/not loaded/);

    await loadWasm();
    const kp = xwingKeyPair();
    expect(xwingEncapsulate(kp.publicKey).sharedSecret).toHaveLength(32);
    expect(cryptoBackend()).toBe('native'); // loading the build does not switch the backend
  });

  it('loads the WebAssembly build with the default (eager) start', async () => {
    await initSodium();
    expect(() => sodium()).not.toThrow();
  });
});
