// The SDK's receiving half with batches (issue 9), without a network: the copies of one delivery
// stanza go to the handler one at a time, in order, and are acknowledged together in one receipt
// stanza, each by its own id, only once their ids are on disk; a copy that can never open is
// acknowledged and reported, one whose handler threw is left out; under a backlog of single
// deliveries the receipts are sent several to a stanza, each copy still acknowledged.
import { describe, expect, it } from 'vitest';
import { Receiver, type ReceivedMessage } from '../../../src/agent/receiver.js';
import { DEFAULT_LIMITS, MemoryReplayStore, type ReplayStore, type SealedEnvelope } from '../../../src/keys/index.js';
import { silentLogger } from '../../../src/log/index.js';
import { deliveryBatchStanza } from '../../../src/protocol/batches.js';
import { deliveryStanza, deliveryStanzaId, type DeliveryItem } from '../../../src/protocol/delivery.js';
import { NS } from '../../../src/protocol/namespaces.js';
import type { Element, XmppConnection } from '../../../src/xmpp/index.js';
import { agent, party, sealFor, T0, text } from '../keys/helpers.js';

const VAULT = 'vault@example.org';
const alice = agent('alice@example.org');

function copyOf(env: SealedEnvelope, device: number): DeliveryItem {
  const block = env.blocks.find((b) => b.target.kind === 'device' && b.target.device === device);
  if (block === undefined) throw new Error('no block');
  return {
    recipient: env.recipient,
    sender: env.sender.jid,
    senderDevice: env.sender.device,
    messageId: env.messageId,
    suite: env.suite,
    receivedAt: T0,
    payload: env.payload,
    device,
    prekeyId: block.prekeyId,
    keyBlock: block.box,
  };
}

function setup(replay?: ReplayStore) {
  const bob = party(agent('bob@example.org', { opks: 0 }));
  const sent: Element[] = [];
  const conn = { send: (st: Element) => Promise.resolve(void sent.push(st)) } as unknown as XmppConnection;
  const receiver = new Receiver({
    conn,
    vault: VAULT,
    jid: bob.state.identity.jid,
    device: bob.state.identity.device,
    keys: { keyring: bob.ring, replay: replay ?? bob.replay },
    trust: bob.trust,
    limits: DEFAULT_LIMITS,
    logger: silentLogger(),
    now: () => T0,
  });
  const device = bob.state.identity.device;
  const seal = (body: string): SealedEnvelope => sealFor(alice, [bob.state], text(body));
  const batch = (envs: SealedEnvelope[]): Element => {
    const st = deliveryBatchStanza(`bob@example.org/phone`, VAULT, envs.map((e) => copyOf(e, device)));
    st.attrs.from = `${VAULT}/v1`;
    return st;
  };
  const single = (env: SealedEnvelope): Element => {
    const st = deliveryStanza(`bob@example.org/phone`, VAULT, copyOf(env, device));
    st.attrs.from = `${VAULT}/v1`;
    return st;
  };
  /** The ids each receipt stanza names. */
  const receipts = (): string[][] => sent.map((s) => s.getChildren('received', NS.receipts).map((r) => String(r.attrs.id)));
  return { bob, receiver, sent, seal, batch, single, receipts };
}

const settle = (ms = 30): Promise<void> => new Promise((r) => setTimeout(r, ms));
const idOf = (env: SealedEnvelope): string => deliveryStanzaId(env.sender.jid, env.messageId);

describe('Receiver with delivery batches', () => {
  it('hands the copies over in order and acknowledges them in one receipt stanza, each by its id', async () => {
    const { receiver, seal, batch, receipts } = setup();
    const envs = ['one', 'two', 'three'].map(seal);
    const seen: string[] = [];
    receiver.setHandler((m: ReceivedMessage) => void seen.push(m.text()));
    expect(receiver.handle(batch(envs))).toBe(true);
    await settle();
    expect(seen).toEqual(['one', 'two', 'three']);
    expect(receipts()).toEqual([envs.map(idOf)]);
  });

  it('acknowledges a copy that can never open with the others and reports it; leaves out one whose handler threw', async () => {
    const { receiver, seal, batch, receipts } = setup();
    const envs = ['fine', 'tampered', 'throws', 'also fine'].map(seal);
    const st = batch(envs);
    const payload = st.getChildren('item', NS.sealed)[1]?.getChild('sealed', NS.sealed)?.getChild('payload');
    const b = Buffer.from(String(payload?.text()), 'base64');
    b[b.length - 1]! ^= 1;
    payload!.children = [b.toString('base64')];
    const dropped: string[] = [];
    receiver.on('dropped', (d) => dropped.push(d.error.code));
    const seen: string[] = [];
    receiver.setHandler((m) => {
      if (m.text() === 'throws') throw new Error('not now');
      seen.push(m.text());
    });
    receiver.handle(st);
    await settle();
    expect(seen).toEqual(['fine', 'also fine']);
    expect(dropped).toEqual(['bad-signature']);
    expect(receipts()).toEqual([[envs[0], envs[1], envs[3]].map((e) => idOf(e as SealedEnvelope))]);
  });

  it('sends no receipt before the message ids are on disk', async () => {
    let release!: () => void;
    const disk = new Promise<void>((r) => (release = r));
    const memory = new MemoryReplayStore();
    const slow: ReplayStore = {
      has: (s, id) => memory.has(s, id),
      add: async (e) => {
        const fresh = await memory.add(e);
        await disk;
        return fresh;
      },
      prune: (before) => memory.prune(before),
    };
    const { receiver, seal, batch, receipts } = setup(slow);
    const envs = ['a', 'b'].map(seal);
    const seen: string[] = [];
    receiver.setHandler((m) => void seen.push(m.text()));
    receiver.handle(batch(envs));
    await settle();
    expect(seen).toEqual(['a', 'b']); // handled, and a second copy's handling did not wait for the disk
    expect(receipts()).toEqual([]);
    release();
    await settle();
    expect(receipts()).toEqual([envs.map(idOf)]);
  });

  it('under a backlog of single deliveries, sends the receipts several to a stanza, each copy acknowledged once', async () => {
    const { receiver, seal, single, receipts } = setup();
    const envs = Array.from({ length: 40 }, (_, i) => seal(`m${i}`));
    const seen: string[] = [];
    receiver.setHandler((m) => void seen.push(m.text()));
    for (const e of envs) receiver.handle(single(e));
    await settle(100);
    expect(seen).toHaveLength(40);
    expect(receipts().flat().sort()).toEqual(envs.map(idOf).sort());
    expect(receipts().length).toBeLessThan(40);
  });

  it('on close, still acknowledges the copies of a batch it handled', async () => {
    const { receiver, seal, batch, receipts } = setup();
    const envs = ['x', 'y', 'z'].map(seal);
    let calls = 0;
    let closing!: Promise<void>;
    receiver.setHandler(() => {
      if (++calls === 2) closing = receiver.close();
    });
    receiver.handle(batch(envs));
    await settle();
    await closing;
    expect(receipts()).toEqual([envs.slice(0, 2).map(idOf)]);
  });
});
