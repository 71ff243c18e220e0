// `npm run bench -- --file [--mib 200]`: a file through the vault (issue 17). One random file goes
// from an agent to an offline recipient with sendFile (seal in chunks to a spool, checksummed PUTs),
// then the recipient saves it (ranged GET, ciphertext hash, decrypt, plaintext hash). Prints MiB/s
// of each side, the service's peak RSS during each (it runs as a child process, as deployed) and
// the bench process's RSS growth while sending; writes bench-out/file.json.
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ReceivedMessage } from '../src/agent/index.js';
import { freePort } from '../src/localdev/index.js';
import { agentFactory } from './lib/sealpost-path.js';
import { progress, setUp } from './lib/setup.js';
import { round } from './lib/stats.js';

export interface FileBenchOptions {
  out: string;
  json: boolean;
  fromSources?: boolean;
  /** File size in MiB (default 200). */
  mib?: number | undefined;
}

async function randomFile(path: string, mib: number): Promise<string> {
  const out = createWriteStream(path);
  const hash = createHash('sha256');
  for (let i = 0; i < mib; i++) {
    const piece = randomBytes(1024 * 1024);
    hash.update(piece);
    if (!out.write(piece)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  return hash.digest('base64');
}

export async function runFileBench(o: FileBenchOptions): Promise<void> {
  const mib = o.mib ?? 200;
  const ctx = await setUp(o.out, { fromSources: o.fromSources === true });
  try {
    const svc = await ctx.startService({ SEALPOST_UPLOAD_PORT: String(await freePort()) });
    const agents = agentFactory(ctx.server, ctx.vault.jid, ctx.work);
    const aliceAccount = await ctx.account('alice');
    const bobAccount = await ctx.account('bob');
    await (await agents(bobAccount)).stop(); // publishes, then offline
    const alice = await agents(aliceAccount);
    const input = join(ctx.work, 'input.bin');
    progress(`file: writing ${mib} MiB of random bytes`);
    const sha256 = await randomFile(input, mib);

    const idleSvcRss = svc.rssMb();
    progress('file: sendFile (seal, upload, manifest)');
    global.gc?.();
    const rss0 = process.memoryUsage().rss;
    let senderPeak = rss0;
    const sampler = setInterval(() => (senderPeak = Math.max(senderPeak, process.memoryUsage().rss)), 20);
    let svcPeak = svc.window();
    const sendStart = performance.now();
    let uploadStart = 0;
    const sent = await alice.sendFile(bobAccount.jid, input, {
      onProgress: () => void (uploadStart ||= performance.now()),
    });
    const sendMs = performance.now() - sendStart;
    clearInterval(sampler);
    const uploadSvcRss = svcPeak();
    if (sent.sha256 !== sha256) throw new Error('sendFile hashed another file');
    await alice.stop();

    progress('file: saveTo (download, check, decrypt, check)');
    svcPeak = svc.window();
    const saved: string[] = [];
    const t = performance.now();
    const bob = await agents(bobAccount, async (m: ReceivedMessage) => {
      if (m.file() !== undefined) saved.push((await m.saveTo(join(ctx.work, 'saved.bin'))).sha256);
    });
    while (saved.length === 0) await new Promise((r) => setTimeout(r, 20));
    const saveMs = performance.now() - t;
    const downloadSvcRss = svcPeak();
    await bob.stop();
    if (saved[0] !== sha256) throw new Error('the saved file differs from the original');

    const result = {
      mib,
      send_mib_s: round(mib / (sendMs / 1000), 1),
      // Sealing to the spool, the slot IQ and the first 8 MiB PUT (the first progress call comes after it).
      seal_ms: round(uploadStart - sendStart, 0),
      upload_mib_s: round(mib / ((sendMs - (uploadStart - sendStart)) / 1000), 1),
      save_mib_s: round(mib / (saveMs / 1000), 1),
      service_rss_mb_idle: round(idleSvcRss, 1),
      service_rss_mb_upload: round(uploadSvcRss, 1),
      service_rss_mb_download: round(downloadSvcRss, 1),
      sender_rss_growth_mb: round((senderPeak - rss0) / 1048576, 1),
    };
    writeFileSync(join(ctx.out, 'file.json'), JSON.stringify(result, null, 2));
    if (o.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else
      for (const [k, v] of Object.entries(result)) process.stdout.write(`${k.padEnd(24)} ${String(v)}\n`);
  } finally {
    await ctx.close();
  }
}
