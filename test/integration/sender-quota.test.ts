// The SDK's answer to a full quota (issue 14, attack 1): resource-constraint is the vault saying
// "the recipient holds too much from you"; the sender used to keep the message and send it again
// on every resend period, for ever (each one a submission the vault had to refuse). Now each such
// refusal is told to the application (`deferred`), the next resend waits twice as long, and after
// `quotaRetries` resends send() rejects with the vault's condition and text, and the outbox lets
// the message go. Against a running vault, with an offline recipient whose quota is full.
import { describe, expect, it } from 'vitest';
import type { AppError } from '../../src/errors/index.js';
import { startAgent, startTestService } from './service-fixture.js';

describe('the SDK on a full quota', () => {
  it('tells the application, backs off, and gives up after its retries instead of resending for ever', async () => {
    const ts = await startTestService({ SEALPOST_PENDING_MAX_COUNT: '4', SEALPOST_SENDER_SHARE: '50' });
    const bob = await startAgent(ts, 'bob');
    await bob.agent.stop(); // offline: Alice's messages wait, two of them fill her share
    const alice = await startAgent(ts, 'alice', { resendAfterMs: 250, quotaRetries: 2 });
    const deferred: string[] = [];
    alice.agent.on('deferred', (id) => deferred.push(id));
    await alice.agent.send(bob.account.jid, 'one');
    await alice.agent.send(bob.account.jid, 'two');

    const started = Date.now();
    const third = await Promise.race([
      alice.agent.send(bob.account.jid, 'three').then(() => 'stored', (e: unknown) => e as AppError & { condition?: string }),
      new Promise<string>((resolve) => setTimeout(() => resolve('still resending after 15 s'), 15_000)),
    ]);
    if (typeof third === 'string') expect.fail(`a message over the quota was not refused: ${third}`);
    expect(third.condition).toBe('resource-constraint');
    expect(third.message).toMatch(/share of its pending quota/);
    // Refused once, then resent twice (after 0.5 s, then 1 s): three refusals, each told to the application.
    expect(deferred).toHaveLength(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
    expect(alice.agent.outbox.list().map((e) => e.recipient)).toEqual([]);
    // Within her share again once Bob collects: a new message is taken.
    const got: string[] = [];
    await bob.reopen({ onMessage: (m) => void got.push(m.text()) });
    await expect.poll(() => got.length, { timeout: 20_000 }).toBe(2);
    await expect.poll(() => ts.service.archive.pendingCounts(bob.account.jid).messages, { timeout: 20_000 }).toBe(0);
    await expect(alice.agent.send(bob.account.jid, 'four')).resolves.toBeDefined();
  });
});
