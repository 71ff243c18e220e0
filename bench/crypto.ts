// Benchmark of the sp1 envelope (design.md, "Cryptographic construction") against raw
// crypto_box_seal, all measured in this run: seals/s for 1 and 4 devices, opens/s, and
// overhead_ratio = our incremental cost of one more device, (t4 - t1) / 3, over one raw seal.
// Usage: npm run bench:crypto [-- --json]
import {
  createAgentKeys,
  initSodium,
  KeyRing,
  MemoryReplayStore,
  MemoryTrustStore,
  open,
  randomBytes,
  seal,
  type DeviceTarget,
  type SealedEnvelope,
} from '../src/keys/index.js';
import { sodium } from '../src/keys/sodium.js';

const PAYLOAD = 1024;
const ROUNDS = 21;
const BATCH_MS = 40;

function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

function timeBatch(fn: () => unknown, n: number): number {
  const start = performance.now();
  for (let i = 0; i < n; i++) fn();
  return (performance.now() - start) / 1000 / n;
}

/**
 * Seconds per call for each function, per round. Rounds run every function back to back in short
 * batches (rotating the order), so a derived figure can be taken within one round, where the
 * machine's load is about the same for all of them; medians over rounds damp outliers.
 */
function measure(fns: Record<string, () => unknown>): Record<string, number[]> {
  const names = Object.keys(fns);
  const counts: Record<string, number> = {};
  const out: Record<string, number[]> = {};
  for (const name of names) {
    const fn = fns[name] ?? (() => undefined);
    timeBatch(fn, 50); // warm-up
    counts[name] = Math.max(10, Math.ceil(BATCH_MS / 1000 / timeBatch(fn, 100)));
    out[name] = [];
  }
  for (let round = 0; round < ROUNDS; round++)
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + round) % names.length] ?? '';
      out[name]?.push(timeBatch(fns[name] ?? (() => undefined), counts[name] ?? 10));
    }
  return out;
}

async function main(): Promise<void> {
  await initSodium();
  const now = Date.now();
  const alice = createAgentKeys({ jid: 'alice@example.org', now, oneTimePrekeys: 0 });
  const bobs = Array.from({ length: 4 }, () => createAgentKeys({ jid: 'bob@example.org', now, oneTimePrekeys: 0 }));
  const targets: DeviceTarget[] = bobs.map((b) => {
    const spk = b.signedPrekeys[0];
    if (spk === undefined) throw new Error('no signed prekey');
    return { device: b.identity.device, prekeyId: spk.id, publicKey: spk.publicKey };
  });
  const plaintext = randomBytes(PAYLOAD);
  const sealTo = (devices: DeviceTarget[]): SealedEnvelope =>
    seal({ from: alice.identity, to: 'bob@example.org', devices, plaintext, contentType: 'application/octet-stream', now: () => now });

  const s = sodium();
  const rawPk = targets[0]?.publicKey ?? new Uint8Array(32);
  const blockPlain = randomBytes((sealTo(targets.slice(0, 1)).blocks[0]?.box.length ?? 48) - 48);
  const m = measure({
    raw: () => s.crypto_box_seal(plaintext, rawPk),
    rawBlock: () => s.crypto_box_seal(blockPlain, rawPk),
    seal1: () => sealTo(targets.slice(0, 1)),
    seal4: () => sealTo(targets),
  });
  const col = (k: string): number[] => m[k] ?? [];
  const perRound = (f: (i: number) => number): number[] => col('raw').map((_, i) => f(i));
  const at = (k: string, i: number): number => col(k)[i] ?? NaN;
  const perDeviceR = perRound((i) => (at('seal4', i) - at('seal1', i)) / 3);

  // Opens: pre-sealed distinct messages, opened in order with real trust and replay stores.
  const bob = bobs[0];
  if (bob === undefined) throw new Error('no recipient');
  const envs = Array.from({ length: 3000 }, () => sealTo(targets.slice(0, 1)));
  const ctx = { me: { jid: 'bob@example.org', device: bob.identity.device }, prekeys: new KeyRing(bob), trust: new MemoryTrustStore(), replay: new MemoryReplayStore(), now: () => now };
  for (const e of envs.slice(0, 200)) await open(e, ctx);
  const openStart = performance.now();
  for (const e of envs.slice(200)) await open(e, ctx);
  const openPerOp = (performance.now() - openStart) / 1000 / (envs.length - 200);

  const g = (k: string): number => median(col(k));
  const perDevice = median(perDeviceR);
  const result = {
    payload_bytes: PAYLOAD,
    key_block_bytes: blockPlain.length + 48,
    rounds: ROUNDS,
    seal_per_s_1dev: 1 / g('seal1'),
    seal_per_s_4dev: 1 / g('seal4'),
    open_per_s: 1 / openPerOp,
    raw_seal_per_s: 1 / g('raw'),
    raw_seal_same_size_per_s: 1 / g('rawBlock'),
    per_device_us: perDevice * 1e6,
    raw_seal_us: g('raw') * 1e6,
    fixed_cost_us: (g('seal1') - perDevice) * 1e6,
    /** Median over rounds of ((t4 - t1) / 3) / t_raw, each round measured back to back. */
    overhead_ratio: median(perRound((i) => perDeviceR[i] ?? NaN).map((d, i) => d / at('raw', i))),
    overhead_ratio_same_size: median(perDeviceR.map((d, i) => d / at('rawBlock', i))),
  };

  if (process.argv.includes('--json')) {
    console.log(JSON.stringify(result));
    return;
  }
  const f = (n: number): string => n.toFixed(n >= 100 ? 0 : 2);
  console.log(`sp1 envelope, ${PAYLOAD}-byte payloads (medians of ${ROUNDS} rounds)`);
  console.log(`  seal, 1 device        ${f(result.seal_per_s_1dev)} /s`);
  console.log(`  seal, 4 devices       ${f(result.seal_per_s_4dev)} /s`);
  console.log(`  open                  ${f(result.open_per_s)} /s`);
  console.log(`  raw crypto_box_seal   ${f(result.raw_seal_per_s)} /s (1 KiB), ${f(result.raw_seal_same_size_per_s)} /s (${result.key_block_bytes - 48} B, our key block)`);
  console.log(`  per extra device      ${f(result.per_device_us)} us = (t4 - t1) / 3; one raw seal of the payload ${f(result.raw_seal_us)} us`);
  console.log(`  fixed cost per message ${f(result.fixed_cost_us)} us (payload AEAD, hash, signature)`);
  console.log(`  overhead_ratio        ${f(result.overhead_ratio)} (per-device cost / raw seal of the payload; target <= 1.25)`);
  console.log(`  same-size ratio       ${f(result.overhead_ratio_same_size)} (per-device cost / raw seal of a key-block-sized message)`);
}

await main();
