// Plain multi-process commands work or refuse (issue 15): `sealpost ingest` and `sealpost worker`
// on one Redis prefix share one data dir; a worker started with another data dir (as the README
// once suggested) refuses to start and says what to configure, and the running service's users
// are unharmed; the same data dir starts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { ReceivedMessage } from '../../src/agent/index.js';
import { roleProcess } from './fault-fixture.js';
import { runNode } from './helpers.js';
import { startAgent, startTestService } from './service-fixture.js';

describe('one data dir per deployment', () => {
  it('a worker on another data dir refuses to start and names the fix; the service keeps working', async () => {
    const ts = await startTestService();
    const other = mkdtempSync(join(tmpdir(), 'sealpost-other-'));
    onTestFinished(() => rmSync(other, { recursive: true, force: true }));
    const run = await runNode(['bin/sealpost.js', 'worker'], { ...ts.env, SEALPOST_DATA_DIR: other, SEALPOST_LOG_LEVEL: 'error' });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/already serves queue prefix .* would split users' archives and keys across disks/);
    expect(run.stderr).toMatch(/same data dir \(SEALPOST_DATA_DIR on a shared volume\), or give this one its own SEALPOST_QUEUE_PREFIX/);

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

  it('a worker process on the same data dir and prefix starts beside the running service', async () => {
    const ts = await startTestService();
    const worker = roleProcess('worker', ts.env, ts.dataDir);
    await worker.start();
    expect(worker.pid).toBeTypeOf('number');
    await worker.kill('SIGTERM');
  });
});
