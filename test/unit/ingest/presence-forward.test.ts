// The ingest's presence forwarding (issue 15) while a shard has no owner (a takeover): a presence
// is tried again until an owner answers, and an older one is not retried once a newer presence of
// the same JID was sent, so the owner never applies them out of order.
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/log/index.js';
import { forwardPresence } from '../../../src/ingest/index.js';
import { NS } from '../../../src/protocol/index.js';
import { xml } from '../../../src/xmpp/index.js';

/** An available presence with a device announcement (the forwarder does not check it; the owner does). */
const announced = (ts = 1) => xml('presence', {}, xml('announce', { xmlns: NS.sealpost, device: '7', fp: 'x', ts: String(ts), sig: 'y' }));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A bus whose shard has no owner for the first `down` requests. */
function bus(down: number) {
  const answered: string[] = [];
  const ids: string[] = [];
  let calls = 0;
  return {
    answered,
    ids,
    calls: () => calls,
    request(_shard: number, payload: unknown) {
      calls++;
      ids.push(String((payload as { id?: string }).id));
      if (calls <= down) return Promise.reject(new Error('shard 0: no answer from its owner'));
      const { type, stanza } = payload as { type: string; stanza?: string };
      answered.push(stanza?.includes('<announce') === true ? `${type} (announced)` : type);
      return Promise.resolve(true);
    },
  };
}

describe('presence forwarding', () => {
  it('tries a presence again until the shard has an owner', async () => {
    const b = bus(3);
    const hooks = forwardPresence({ bus: b, shardOf: () => 0, logger: silentLogger(), retryMs: 5 });
    hooks.available('bob@example.org/d1', announced(), () => undefined);
    await expect.poll(() => b.answered, { timeout: 2_000 }).toEqual(['available (announced)']);
    expect(b.calls()).toBe(4);
  });

  it('drops the retry of an older presence once a newer one of the same JID was sent', async () => {
    const b = bus(1);
    const hooks = forwardPresence({ bus: b, shardOf: () => 0, logger: silentLogger(), retryMs: 20 });
    hooks.available('bob@example.org/d1', announced(), () => undefined);
    await sleep(1);
    hooks.unavailable('bob@example.org/d1');
    await sleep(100);
    expect(b.answered).toEqual(['unavailable']);
  });

  it('sends each try of a presence under the same id, and another presence under another (the owner takes a try again after a half-way stop)', async () => {
    const b = bus(2);
    const hooks = forwardPresence({ bus: b, shardOf: () => 0, logger: silentLogger(), retryMs: 5 });
    hooks.available('bob@example.org/d1', announced(), () => undefined);
    await expect.poll(() => b.answered, { timeout: 2_000 }).toEqual(['available (announced)']);
    hooks.available('bob@example.org/d1', announced(), () => undefined);
    await expect.poll(() => b.answered, { timeout: 2_000 }).toEqual(['available (announced)', 'available (announced)']);
    expect(b.ids).toHaveLength(4);
    expect(new Set(b.ids.slice(0, 3)).size).toBe(1);
    expect(b.ids[3]).not.toBe(b.ids[0]);
    expect(b.ids[0]).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
  });

  it('does not forward a plain available (no announcement), so it cannot cancel the tries of the announcement before it', async () => {
    const b = bus(2);
    const hooks = forwardPresence({ bus: b, shardOf: () => 0, logger: silentLogger(), retryMs: 20 });
    hooks.available('bob@example.org/d1', announced(), () => undefined);
    await sleep(1);
    // The server sends the agent's plain presence again when a subscription is approved.
    hooks.available('bob@example.org/d1', xml('presence', {}, xml('priority', {}, '0')), () => undefined);
    await expect.poll(() => b.answered, { timeout: 2_000 }).toEqual(['available (announced)']);
    expect(b.calls()).toBe(3);
    expect(b.ids.every((id) => id === b.ids[0])).toBe(true);
  });

  it("drops the retry of an offline once a resource's newer presence was sent, and a resource's once a newer offline was", async () => {
    const b = bus(1);
    const hooks = forwardPresence({ bus: b, shardOf: () => 0, logger: silentLogger(), retryMs: 20 });
    hooks.offline('bob@example.org');
    await sleep(1);
    hooks.available('bob@example.org/d1', announced(), () => undefined);
    await sleep(100);
    // Applied after the announcement, the offline would unregister the new session's device.
    expect(b.answered).toEqual(['available (announced)']);

    const c = bus(1);
    const later = forwardPresence({ bus: c, shardOf: () => 0, logger: silentLogger(), retryMs: 20 });
    later.available('bob@example.org/d1', announced(), () => undefined);
    await sleep(1);
    later.offline('bob@example.org');
    await sleep(100);
    expect(c.answered).toEqual(['offline']);
  });

  it('gives up after its tries', async () => {
    const b = bus(1_000);
    const hooks = forwardPresence({ bus: b, shardOf: () => 0, logger: silentLogger(), retries: 3, retryMs: 5 });
    hooks.offline('bob@example.org');
    await sleep(100);
    expect(b.calls()).toBe(3);
    expect(b.answered).toEqual([]);
  });
});
