// A user's presence forwarded to its shard's owner while the shard changes hands (issue 15), on
// the real presence registry in Redis. Seen in the scale-out run: a node woken from a pause past
// its lease applied the presences it had heard meanwhile, among them an older session's
// unavailable, after the new owner had registered the device's next session: the device was no
// longer registered and got nothing. And an owner that stopped half-way through an announcement
// (killed or paused after the replay check) made the ingest's next try, at the new owner, a replay.
import { describe, expect, it } from 'vitest';
import { answerPresence, deviceAnnouncements, leaseGuard, type ForwardedPresence } from '../../src/ingest/index.js';
import { createDeviceIdentity, initSodium, signAnnouncement } from '../../src/keys/index.js';
import { silentLogger } from '../../src/log/index.js';
import { announcementToXml } from '../../src/protocol/delivery.js';
import { createPresenceRegistry, type Redis } from '../../src/workers/index.js';
import { xml, type Element } from '../../src/xmpp/index.js';
import { testQueues } from './helpers.js';

await initSodium();
const BOB = 'bob@example.org';
const bob = createDeviceIdentity(BOB, 4242);

interface Owner {
  /** The ingest's forwarded presence, answered as a worker node does. */
  answer(p: ForwardedPresence): Promise<true>;
  /** What reached the delivery side. */
  events: string[];
  /** Presence errors sent to the agent. */
  refusals: string[];
}

function owner(redis: Redis, prefix: string, holds: () => boolean): Owner {
  const registry = createPresenceRegistry(redis, prefix);
  const events: string[] = [];
  const refusals: string[] = [];
  const listener = {
    available: (_jid: string, device: number): Promise<void> => {
      events.push(`available ${device}`);
      return Promise.resolve();
    },
    unavailable: (_jid: string, device: number): void => void events.push(`unavailable ${device}`),
  };
  const keys = { identityKey: (_jid: string, d: number) => (d === bob.device ? bob.publicKey : undefined) };
  const hooks = deviceAnnouncements(leaseGuard({ keys, registry, listener, logger: silentLogger() }, () => holds()));
  const conn = {
    send: (el: Element): Promise<void> => {
      refusals.push(el.getChild('error')?.getChildText('text', 'urn:ietf:params:xml:ns:xmpp-stanzas') ?? '');
      return Promise.resolve();
    },
  };
  return { answer: (p) => answerPresence(p, hooks, conn, silentLogger()), events, refusals };
}

const available = (timestamp: number, id: string): ForwardedPresence => ({
  kind: 'presence',
  type: 'available',
  from: `${BOB}/phone`,
  stanza: xml('presence', { to: 'vault@example.org' }, announcementToXml(signAnnouncement(bob, 'phone', timestamp))).toString(),
  id,
});
const unavailable: ForwardedPresence = { kind: 'presence', type: 'unavailable', from: `${BOB}/phone`, id: 'u1' };

describe('forwarded presence across a takeover', () => {
  it('a node woken past its lease does not apply what it heard meanwhile: an older unavailable leaves the next session registered', async () => {
    const { prefix, producer } = await testQueues();
    const registry = createPresenceRegistry(producer, prefix);
    let pausedHolds = true;
    const paused = owner(producer, prefix, () => pausedHolds);
    const next = owner(producer, prefix, () => true);
    // Session 1 comes online at the old owner.
    await paused.answer(available(Date.now() - 2_000, 'a1'));
    expect(await registry.resourceOf(BOB, bob.device)).toBe('phone');
    // The old owner is paused past its lease; session 1 ends and session 2 comes online at the
    // same full JID: the new owner applies session 2 (the ingest's tries of session 1's
    // unavailable went nowhere and were dropped once session 2's presence was sent).
    pausedHolds = false;
    await next.answer(available(Date.now() - 1_000, 'a2'));
    expect(next.events).toEqual([`available ${bob.device}`]);
    // The old owner wakes with session 1's unavailable in its subscription: not applied.
    const late = await paused.answer(unavailable).then(() => 'applied', (err: Error) => err.message);
    expect(await registry.resourceOf(BOB, bob.device), "the old owner's late unavailable unregistered the device").toBe('phone');
    expect(late).toMatch(/no longer holds the user's shard/);
    expect(paused.events).toEqual([`available ${bob.device}`]);
  });

  it("an announcement its first owner stopped half-way through is applied by the next owner on the ingest's next try, and stays a replay under any other id", async () => {
    const { prefix, producer } = await testQueues();
    const registry = createPresenceRegistry(producer, prefix);
    // The first owner gets past the replay check, then its lease is gone (killed or paused there).
    let checks = 0;
    const first = owner(producer, prefix, () => checks++ === 0);
    const next = owner(producer, prefix, () => true);
    const p = available(Date.now() - 1_000, 'f1');
    await expect(first.answer(p)).rejects.toThrow(/no longer holds the user's shard/);
    expect(await registry.resourceOf(BOB, bob.device)).toBeUndefined();
    // The ingest tries the same forwarded presence again; the next owner applies it, and answers
    // once it is applied.
    await next.answer(p);
    expect(await registry.resourceOf(BOB, bob.device), 'the retry was refused as a replay').toBe('phone');
    expect(next.events).toEqual([`available ${bob.device}`]);
    expect(next.refusals).toEqual([]);
    // The same signed announcement arriving again (another forward id: the ingest received it
    // again, e.g. from a session that took over the resource) is still a replay (issue 14).
    await registry.unavailable(BOB, 'phone');
    await next.answer({ ...p, id: 'f2' });
    expect(await registry.resourceOf(BOB, bob.device)).toBeUndefined();
    expect(next.refusals).toEqual([`device announcement refused: device ${bob.device}: not newer than the last one accepted`]);
    // And so is one without an id (a single process's own presence handling).
    const { id: _id, ...withoutId } = p;
    await next.answer(withoutId);
    expect(await registry.resourceOf(BOB, bob.device)).toBeUndefined();
    expect(next.refusals).toHaveLength(2);
  });
});
