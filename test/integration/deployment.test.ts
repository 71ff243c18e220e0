// Plain multi-process commands work or refuse (issue 15): processes of one deployment (one Redis
// prefix) agree on the shard count and master key, and a `sealpost serve`, which owns every shard
// with no leases, never runs beside worker nodes or a serve on another data dir: each refuses to
// start and says what to run instead, and the running service's users are unharmed.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { ReceivedMessage } from '../../src/agent/index.js';
import { runNode } from './helpers.js';
import { startAgent, startTestService } from './service-fixture.js';

describe('one deployment, one topology', () => {
  it('refuses a worker beside a serve, a serve on another data dir, another shard count and another master key; the service keeps working', async () => {
    const ts = await startTestService();
    const other = mkdtempSync(join(tmpdir(), 'sealpost-other-'));
    onTestFinished(() => rmSync(other, { recursive: true, force: true }));
    const run = (role: string, env: Record<string, string>) => runNode(['bin/sealpost.js', role], { ...ts.env, SEALPOST_LOG_LEVEL: 'error', ...env });

    const worker = await run('worker', { SEALPOST_DATA_DIR: other });
    expect(worker.code).toBe(1);
    expect(worker.stderr).toMatch(/a `sealpost serve` \(data dir id n-[0-9a-f]{16}\) owns every shard of queue prefix/);
    expect(worker.stderr).toMatch(/stop the serve and run `sealpost ingest` plus `sealpost worker`/);

    const serve = await run('serve', { SEALPOST_DATA_DIR: other, SEALPOST_VAULT_RESOURCE: 'other' });
    expect(serve.code).toBe(1);
    expect(serve.stderr).toMatch(/a `sealpost serve` on another data dir .* would split users' archives and keys across disks/);

    const count = await run('ingest', { SEALPOST_DATA_DIR: mkdtempSync(join(other, 'i-')), SEALPOST_SHARD_COUNT: '16' });
    expect(count.code).toBe(1);
    expect(count.stderr).toMatch(/runs 64 shards; this process has SEALPOST_SHARD_COUNT=16: set it to 64/);

    const key = await run('ingest', { SEALPOST_DATA_DIR: mkdtempSync(join(other, 'k-')), SEALPOST_MASTER_KEY: randomBytes(32).toString('base64') });
    expect(key.code).toBe(1);
    expect(key.stderr).toMatch(/master key is not the one of the other processes .* give every process the same SEALPOST_MASTER_KEY/);

    const alice = await startAgent(ts, 'alice');
    const seen: ReceivedMessage[] = [];
    const bob = await startAgent(ts, 'bob2', {
      onMessage: (m) => {
        seen.push(m);
        return Promise.resolve();
      },
    });
    const sent = await alice.agent.send(bob.account.jid, 'still here');
    await expect.poll(() => seen.map((m) => m.messageId), { timeout: 15_000 }).toEqual([sent.messageId]);
  });
});
