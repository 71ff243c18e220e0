// Pending-per-user gauges (issue 6, Metrics): the sampler reads only users marked as changed (or
// all once, at the seed), names users by a keyed-hash prefix, never a JID, and keeps the top K.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ArchiveStore } from '../../../src/archive/index.js';
import { silentLogger } from '../../../src/log/index.js';
import { createMetrics } from '../../../src/metrics/index.js';
import { createPendingSampler } from '../../../src/workers/index.js';
import { fixture, incoming, type Fixture } from '../archive/helpers.js';

let f: Fixture;
let archive: ArchiveStore;
beforeEach(async () => {
  f = fixture();
  archive = await f.open();
});
afterEach(() => f.cleanup());

const users = ['u1@example.org', 'u2@example.org', 'u3@example.org'];

describe('pending sampler', () => {
  it('seeds from every archive, then follows touched users; top K by hash prefix, no JIDs', async () => {
    users.forEach((u, i) => {
      for (let n = 0; n <= i; n++) archive.storeIncoming(u, incoming('a@example.org', `m${n}`, [1]));
    });
    const metrics = createMetrics({ defaultMetrics: false });
    const sampler = createPendingSampler({ archive, metrics, logger: silentLogger(), topK: 2, intervalMs: 0 });
    sampler.seed();
    expect(sampler.sample()).toBe(6);
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/sealpost_pending_messages 6/);
    expect(text).toMatch(/sealpost_pending_users 3/);
    expect(text).toContain(`sealpost_pending_user_messages{user="${archive.userHash(users[2]!).slice(0, 16)}"} 3`);
    expect(text).not.toContain(archive.userHash(users[0]!).slice(0, 16)); // outside the top 2
    expect(text).not.toContain('example.org');

    // u3's copies delivered: only a touch makes the sampler look again.
    for (let n = 0; n < 3; n++) archive.markDelivered(users[2]!, 1, 'a@example.org', `m${n}`);
    expect(sampler.sample()).toBe(6);
    sampler.touch(users[2]!);
    expect(sampler.sample()).toBe(3);
    const after = await metrics.registry.metrics();
    expect(after).toMatch(/sealpost_pending_users 2/);
    expect(after).toContain(`user="${archive.userHash(users[0]!).slice(0, 16)}"} 1`);
    sampler.stop();
  });
});
