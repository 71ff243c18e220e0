// What a post-quantum archive copy costs per message (issue 18 part 1), for `npm run bench:crypto`:
// the same 1 KiB message sealed to one device plus the recipient's and the sender's archive keys,
// with X25519 (sp1) and with X-Wing (sp1-xwing) archive keys: bytes on the wire, CPU µs to seal the
// whole message, to seal one archive block alone, and to open the history copy (every check).
import {
  createAgentKeys,
  KeyRing,
  MemoryTrustStore,
  open,
  ownArchiveTarget,
  randomBytes,
  seal,
  XWING_SUITE,
  type ArchiveSuite,
} from '../../src/keys/index.js';
import { archiveSeal } from '../../src/keys/archive-suite.js';
import { cpuUsPerCall, median, round } from './stats.js';

export const ARCHIVE_SUITES_MEASURED: readonly ArchiveSuite[] = ['sp1', XWING_SUITE];

export interface ArchiveSuiteCost {
  readonly suite: ArchiveSuite;
  /** One archive key block of the 1 KiB message. */
  readonly archiveBlockBytes: number;
  /** Key blocks and payload of the whole message (1 device + 2 archive keys). */
  readonly messageBytes: number;
  readonly sealUs: number;
  readonly archiveBlockSealUs: number;
  readonly historyOpenUs: number;
}

/** Median CPU µs per call over `runs` rounds of ~40 ms each. */
async function timeIt(fn: () => unknown, runs: number): Promise<number> {
  await cpuUsPerCall(fn, 10);
  const n = Math.max(10, Math.ceil(40_000 / (await cpuUsPerCall(fn, 10))));
  const rounds: number[] = [];
  for (let r = 0; r < runs; r++) rounds.push(await cpuUsPerCall(fn, n));
  return round(median(rounds));
}

export async function measureArchiveSuite(suite: ArchiveSuite, runs: number): Promise<ArchiveSuiteCost> {
  const now = Date.now();
  const alice = createAgentKeys({ jid: 'alice@example.org', now, oneTimePrekeys: 0, archiveKey: true, archiveSuite: suite });
  const bob = createAgentKeys({ jid: 'bob@example.org', now, oneTimePrekeys: 0, archiveKey: true, archiveSuite: suite });
  const spk = bob.signedPrekeys[0];
  const ak = ownArchiveTarget(bob);
  if (spk === undefined || ak === undefined) throw new Error('bench: keys without a prekey or archive key');
  const plaintext = randomBytes(1024);
  const sealOne = () =>
    seal({
      from: alice.identity,
      to: 'bob@example.org',
      devices: [{ device: bob.identity.device, prekeyId: spk.id, publicKey: spk.publicKey }],
      recipientArchive: ak,
      senderArchive: ownArchiveTarget(alice),
      plaintext,
      contentType: 'application/octet-stream',
      now: () => now,
    });
  const env = sealOne();
  const block = env.blocks.find((b) => b.target.kind === 'ak')?.box ?? new Uint8Array(0);
  const inner = randomBytes((env.blocks[0]?.box.length ?? 48) - 48);
  const ctx = { as: 'archive' as const, me: { jid: 'bob@example.org' }, prekeys: new KeyRing(bob), trust: new MemoryTrustStore(), now: () => now };
  return {
    suite,
    archiveBlockBytes: block.length,
    messageBytes: env.blocks.reduce((n, b) => n + b.box.length, 0) + env.payload.length,
    sealUs: await timeIt(sealOne, runs),
    archiveBlockSealUs: await timeIt(() => archiveSeal(suite, inner, ak.publicKey), runs),
    historyOpenUs: await timeIt(() => open(env, ctx), runs),
  };
}

/** The section's lines for the text report. */
export function archiveSuiteLines(costs: readonly ArchiveSuiteCost[]): string[] {
  const head = `${'archive key suite'.padEnd(20)}${'block B'.padStart(9)}${'message B'.padStart(11)}${'seal µs'.padStart(10)}${'block µs'.padStart(10)}${'history open µs'.padStart(17)}`;
  const rows = costs.map(
    (c) =>
      `${c.suite.padEnd(20)}${String(c.archiveBlockBytes).padStart(9)}${String(c.messageBytes).padStart(11)}${String(c.sealUs).padStart(10)}${String(c.archiveBlockSealUs).padStart(10)}${String(c.historyOpenUs).padStart(17)}`,
  );
  return ['', 'archive copies per message, CPU µs (1 KiB sealed to 1 device + 2 archive keys; X-Wing: ML-KEM-768 in WASM, X25519 on the backend)', head, ...rows];
}
