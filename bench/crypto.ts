// `npm run bench:crypto`: the agent's crypto on both libsodium backends side by side (issue 16):
// seal (1 KiB to one device + the recipient's and the sender's archive keys), open (one delivered
// copy, trust and replay checked), and the raw calls under them (crypto_box_seal of one key block,
// its seal_open, Ed25519 sign and verify of a header-sized message). Each figure is the median of
// --runs rounds (default 7); rounds run every operation back to back in ~40 ms batches. Times are
// this process's CPU time (process.cpuUsage), which other engineers' load on a shared machine
// inflates far less than wall time.
// Then what an archive copy costs per message with X25519 vs X-Wing keys (bench/lib/archive-suites.ts).
// Agent targets: seal <= 300 µs, open <= 150 µs. Usage: npm run bench:crypto [-- --json] [--runs N]
import { parseArgs } from 'node:util';
import { initSodium, type BackendName, type SealedEnvelope } from '../src/keys/index.js';
import { nativeLoadError } from '../src/keys/sodium.js';
import { ARCHIVE_SUITES_MEASURED, archiveSuiteLines, measureArchiveSuite, type ArchiveSuiteCost } from './lib/archive-suites.js';
import { agentCase } from './lib/crypto-cases.js';
import { cpuUsPerCall, median } from './lib/stats.js';

const { values: args } = parseArgs({ options: { json: { type: 'boolean', default: false }, runs: { type: 'string', default: '7' } } });
const RUNS = Number(args.runs);
if (!Number.isInteger(RUNS) || RUNS < 1) throw new RangeError(`--runs: expected a positive integer, got ${args.runs}`);
const BATCH_MS = 40;

const OPS = ['seal', 'open', 'box_seal', 'seal_open', 'sign', 'verify'] as const;
type Op = (typeof OPS)[number];
const TARGETS: Partial<Record<Op, number>> = { seal: 300, open: 150 };
const LABELS: Record<Op, string> = {
  seal: 'seal (1 device + 2 X25519 AKs)',
  open: 'open (one delivered copy)',
  box_seal: 'raw crypto_box_seal (key block)',
  seal_open: 'raw crypto_box_seal_open',
  sign: 'Ed25519 sign',
  verify: 'Ed25519 verify',
};


/** Median µs per call of each operation on one backend, and every round's figure. */
async function measure(backend: BackendName): Promise<{ median: Record<Op, number>; rounds: Record<Op, number[]> }> {
  await initSodium(backend);
  // X25519 archive keys here: this table compares the backends (X-Wing's ML-KEM runs on WASM in both; its
  // cost per message is the archive-suite section below).
  const c = agentCase(1024, 'sp1');
  // Opening needs a fresh envelope per call (the replay store refuses a second open).
  const pool: SealedEnvelope[] = [];
  let next = 0;
  const fns: Record<Op, () => unknown> = {
    seal: c.sealOne,
    open: () => c.openOne(pool[next++] ?? c.sealOne()),
    box_seal: c.boxSeal,
    seal_open: c.boxSealOpen,
    sign: c.sign,
    verify: c.verify,
  };
  const counts = {} as Record<Op, number>;
  for (const op of OPS) {
    if (op === 'open') for (let i = 0; i < 40; i++) pool.push(c.sealOne());
    await cpuUsPerCall(fns[op], 20); // warm-up
    counts[op] = Math.max(10, Math.ceil((BATCH_MS * 1000) / (await cpuUsPerCall(fns[op], 20))));
  }
  pool.length = 0;
  next = 0;
  for (let i = 0; i < counts.open * RUNS; i++) pool.push(c.sealOne());
  const rounds = Object.fromEntries(OPS.map((op) => [op, [] as number[]])) as Record<Op, number[]>;
  for (let r = 0; r < RUNS; r++)
    for (let i = 0; i < OPS.length; i++) {
      const op = OPS[(i + r) % OPS.length] as Op;
      rounds[op].push(await cpuUsPerCall(fns[op], counts[op]));
    }
  return { median: Object.fromEntries(OPS.map((op) => [op, median(rounds[op])])) as Record<Op, number>, rounds };
}

async function main(): Promise<void> {
  await initSodium();
  const missing = nativeLoadError();
  const backends: BackendName[] = missing === undefined ? ['native', 'wasm'] : ['wasm'];
  const results: Partial<Record<BackendName, Awaited<ReturnType<typeof measure>>>> = {};
  for (const b of backends) results[b] = await measure(b);
  const us = (b: BackendName, op: Op): number => Math.round((results[b]?.median[op] ?? NaN) * 10) / 10;
  const best = backends[0] as BackendName;
  // Archive copies, X25519 vs X-Wing (issue 18), on the agent's default backend (X-Wing: ML-KEM-768 in WASM, its X25519 on the backend).
  await initSodium(best);
  const archive: ArchiveSuiteCost[] = [];
  for (const suite of ARCHIVE_SUITES_MEASURED) archive.push(await measureArchiveSuite(suite, RUNS));
  const targets = Object.fromEntries(
    Object.entries(TARGETS).map(([op, limit]) => [`${op}_us <= ${limit} (${best})`, us(best, op as Op) <= limit]),
  );
  if (args.json) {
    const per = (b: BackendName) => Object.fromEntries(OPS.map((op) => [`${op}_us`, us(b, op)]));
    const json = Object.fromEntries(backends.map((b) => [b, per(b)]));
    process.stdout.write(`${JSON.stringify({ payload_bytes: 1024, runs: RUNS, ...json, native_missing: missing ?? null, targets, archive_suites: archive })}\n`);
    return;
  }
  const cell = (s: string, w: number): string => s.padStart(w);
  process.stdout.write(`agent crypto, CPU µs per call, median of ${RUNS} rounds (1 KiB payloads)\n`);
  process.stdout.write(`${'operation'.padEnd(36)}${cell('native', 10)}${cell('wasm', 10)}${cell('wasm/native', 13)}  target\n`);
  for (const op of OPS) {
    const [n, w] = [us('native', op), us('wasm', op)];
    const ratio = Number.isFinite(n) && Number.isFinite(w) ? (w / n).toFixed(2) : '-';
    const target = TARGETS[op] === undefined ? '' : `<= ${TARGETS[op]}`;
    process.stdout.write(`${LABELS[op].padEnd(36)}${cell(Number.isFinite(n) ? String(n) : '-', 10)}${cell(String(w), 10)}${cell(ratio, 13)}  ${target}\n`);
  }
  if (missing !== undefined) process.stdout.write(`native backend not measured: ${missing}\n`);
  process.stdout.write(`${archiveSuiteLines(archive).join('\n')}\n`);
  for (const [name, ok] of Object.entries(targets)) process.stdout.write(`${ok ? 'met    ' : 'NOT MET'} ${name}\n`);
}

await main();
