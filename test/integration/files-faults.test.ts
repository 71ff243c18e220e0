// Files under faults (issue 17), real processes: the vault runs as `sealpost serve` and is killed
// (-9) in the middle of an upload, the SDK finishes it after the restart; the recipient runs as a
// process and is killed (-9) in the middle of its download, and the next run continues it (a ranged
// GET from what it had); the saved file's SHA-256 equals the original; the sender's RSS stays bounded.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { freePort } from '../../src/localdev/index.js';
import { roleProcess } from './fault-fixture.js';
import { blobsOn, randomFile, sha256Of, tempDir } from './files-fixture.js';
import { services } from './helpers.js';
import { startAgent, testServiceEnv } from './service-fixture.js';

interface Recipient {
  child: ChildProcess;
  lines: string[];
  exited: Promise<void>;
}

function recipient(env: Record<string, string>): Recipient {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/integration/files-recipient.ts'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let tail = '';
  child.stdout?.on('data', (d: Buffer) => {
    tail += d.toString();
    const parts = tail.split('\n');
    tail = parts.pop() ?? '';
    lines.push(...parts);
  });
  child.stderr?.on('data', (d: Buffer) => process.stderr.write(d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  return { child, lines, exited };
}

describe('files under faults', () => {
  it('a 20 MiB file: the vault killed -9 mid-upload, the recipient killed -9 mid-download; both resume, the SHA-256 matches, sender RSS bounded', async () => {
    const port = await freePort();
    const se = await testServiceEnv({ SEALPOST_UPLOAD_PORT: String(port) });
    const vault = roleProcess('serve', se.env, se.dataDir);
    await vault.start();
    const work = tempDir('sealpost-ffault-');
    const file = await randomFile(work, 20);
    const alice = await startAgent({ vault: se.vault }, 'alice');
    const bob = await startAgent({ vault: se.vault }, 'bob');
    await bob.agent.stop();

    // Upload: after the first 8 MiB piece is stored, the vault dies; the SDK retries until it is back.
    let killed = false;
    const rss0 = process.memoryUsage().rss;
    let peak = rss0;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    const sent = await alice.agent.sendFile(bob.account.jid, file.path, {
      onProgress: async (done) => {
        if (killed || done === 0) return;
        killed = true;
        await vault.kill('SIGKILL');
        setTimeout(() => void vault.start(), 500);
      },
    });
    clearInterval(sampler);
    expect(killed).toBe(true);
    expect(vault.starts).toBe(2);
    expect(sent.sha256).toBe(file.sha256);
    const growthMb = (peak - rss0) / 1e6;
    process.stderr.write(`[files-faults] sender RSS growth during a 20 MiB sendFile: ${growthMb.toFixed(1)} MB\n`);
    expect(growthMb).toBeLessThan(100);
    expect(blobsOn(se.dataDir).map((b) => b.size)).toEqual([file.size + 320 * 17]);

    // Download: the recipient process is killed once it holds part of the file.
    const { xmpp } = services();
    const out = join(work, 'received.bin');
    const env = {
      SP_XMPP_SERVICE: xmpp.service,
      SP_DOMAIN: xmpp.domain,
      SP_USER: bob.account.username,
      SP_PASS: bob.account.password,
      SP_VAULT: se.vault.jid,
      SP_DIR: bob.dir,
      SP_KEY: Buffer.from('key' in bob.options.secret ? bob.options.secret.key : new Uint8Array()).toString('base64'),
      SP_OUT: out,
      SP_SLOW_MS: '100',
    };
    const first = recipient(env);
    await expect.poll(() => first.lines.filter((l) => l.startsWith('progress')).length, { timeout: 60_000 }).toBeGreaterThanOrEqual(3);
    first.child.kill('SIGKILL');
    await first.exited;
    const had = statSync(`${out}.sealpost-part`).size;
    expect(had).toBeGreaterThan(0);
    expect(had).toBeLessThan(file.size);
    expect(existsSync(out)).toBe(false);

    const second = recipient({ ...env, SP_SLOW_MS: '0' });
    await expect.poll(() => second.lines.find((l) => l.startsWith('saved')), { timeout: 60_000 }).toBe(`saved ${file.sha256}`);
    // It continued: its first progress was already past what the killed run had.
    const firstDone = Number(second.lines.find((l) => l.startsWith('progress'))?.split(' ')[1]);
    expect(firstDone).toBeGreaterThan(had);
    await second.exited;
    expect(sha256Of(out)).toBe(file.sha256);
    expect(existsSync(`${out}.sealpost-part`)).toBe(false);
  });
});
