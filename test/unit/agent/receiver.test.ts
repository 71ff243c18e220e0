// The SDK's receiving half without a network (issue 6, Recipient SDK): the receipt goes out only
// after the handler resolved; a throwing handler leaves the one-time prekey and the replay store
// untouched so the redelivery opens; duplicates are acknowledged without reaching the app; copies
// that can never open are acknowledged and reported; deliveries wait for a handler; only the
// vault's deliveries are taken.
import { describe, expect, it } from 'vitest';
import { Receiver, type ReceivedMessage } from '../../../src/agent/receiver.js';
import { DEFAULT_LIMITS } from '../../../src/keys/index.js';
import { silentLogger } from '../../../src/log/index.js';
import { deliveryStanza } from '../../../src/protocol/delivery.js';
import { NS } from '../../../src/protocol/namespaces.js';
import type { Element, XmppConnection } from '../../../src/xmpp/index.js';
import { agent, party, sealFor, T0, text, type Party } from '../keys/helpers.js';
import type { SealedEnvelope } from '../keys/imports.js';

const VAULT = 'vault@example.org';

function delivery(env: SealedEnvelope, device: number, from = `${VAULT}/v1`): Element {
  const block = env.blocks.find((b) => b.target.kind === 'device' && b.target.device === device);
  if (block === undefined) throw new Error('no block');
  const st = deliveryStanza(`${env.recipient}/phone`, VAULT, {
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
  });
  st.attrs.from = from;
  return st;
}

function setup(bob: Party = party(agent('bob@example.org', { opks: 3 }))) {
  const sent: Element[] = [];
  const conn = { send: (st: Element) => Promise.resolve(void sent.push(st)) } as unknown as XmppConnection;
  const receiver = new Receiver({
    conn,
    vault: VAULT,
    jid: bob.state.identity.jid,
    device: bob.state.identity.device,
    keys: { keyring: bob.ring, replay: bob.replay },
    trust: bob.trust,
    limits: DEFAULT_LIMITS,
    logger: silentLogger(),
    now: () => T0,
  });
  const receipts = (): string[] => sent.map((s) => String(s.getChild('received', NS.receipts)?.attrs.id));
  return { bob, receiver, sent, receipts };
}

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 20));
const alice = agent('alice@example.org');

describe('Receiver', () => {
  it('acknowledges only after the handler resolved, then erases the one-time prekey and remembers the id', async () => {
    const { bob, receiver, receipts } = setup();
    const env = sealFor(alice, [bob.state], text('hello'));
    const opks = bob.ring.state.oneTimePrekeys.length;
    let release!: () => void;
    const seen: ReceivedMessage[] = [];
    receiver.setHandler(async (m) => {
      seen.push(m);
      await new Promise<void>((r) => (release = r));
    });
    const st = delivery(env, bob.state.identity.device);
    expect(receiver.handle(st)).toBe(true);
    await settle();
    expect(seen.map((m) => m.text())).toEqual(['hello']);
    expect(seen[0]).toMatchObject({ from: 'alice@example.org', device: alice.identity.device, trust: 'new', storedAt: T0 });
    expect(receipts()).toEqual([]);
    expect(bob.ring.state.oneTimePrekeys.length).toBe(opks);
    expect(await bob.replay.has('alice@example.org', env.messageId)).toBe(false);
    release();
    await settle();
    expect(receipts()).toEqual([String(st.attrs.id)]);
    expect(bob.ring.state.oneTimePrekeys.length).toBe(opks - 1);
    expect(await bob.replay.has('alice@example.org', env.messageId)).toBe(true);
  });

  it('a throwing handler: no receipt, nothing consumed, and the redelivery is handed over', async () => {
    const { bob, receiver, receipts } = setup();
    const env = sealFor(alice, [bob.state], text('again'));
    let calls = 0;
    receiver.setHandler(() => {
      if (++calls === 1) throw new Error('not ready');
    });
    const st = delivery(env, bob.state.identity.device);
    receiver.handle(st);
    await settle();
    expect(receipts()).toEqual([]);
    receiver.handle(delivery(env, bob.state.identity.device));
    await settle();
    expect(calls).toBe(2);
    expect(receipts()).toEqual([String(st.attrs.id)]);
  });

  it('drops a duplicate without the app seeing it, and acknowledges it', async () => {
    const { bob, receiver, receipts } = setup();
    const env = sealFor(alice, [bob.state], text('once'));
    const seen: string[] = [];
    receiver.setHandler((m) => void seen.push(m.messageId));
    receiver.handle(delivery(env, bob.state.identity.device));
    receiver.handle(delivery(env, bob.state.identity.device));
    await settle();
    expect(seen).toEqual([env.messageId]);
    expect(receipts()).toHaveLength(2);
  });

  it('acknowledges and reports a copy that can never open; holds one from a changed sender key', async () => {
    const { bob, receiver, receipts } = setup();
    const dropped: { code: string; acknowledged: boolean }[] = [];
    receiver.on('dropped', (d) => dropped.push({ code: d.error.code, acknowledged: d.acknowledged }));
    receiver.setHandler(() => undefined);
    const env = sealFor(alice, [bob.state], text('x'));
    const tampered = delivery(env, bob.state.identity.device);
    const payload = tampered.getChild('sealed', NS.sealed)?.getChild('payload');
    const b = Buffer.from(String(payload?.text()), 'base64');
    b[b.length - 1]! ^= 1;
    payload!.children = [b.toString('base64')];
    receiver.handle(tampered);
    await settle();
    // A sender whose key changed since it was pinned: wait for the user, do not acknowledge.
    await bob.trust.pin('carol@example.org', 5, agent('carol@example.org').identity.publicKey, T0);
    const carol = agent('carol@example.org');
    const fromCarol = sealFor({ ...carol, identity: { ...carol.identity, device: 5 } }, [bob.state], text('y'));
    receiver.handle(delivery(fromCarol, bob.state.identity.device));
    await settle();
    expect(dropped).toEqual([
      { code: 'bad-signature', acknowledged: true },
      { code: 'untrusted-key', acknowledged: false },
    ]);
    expect(receipts()).toHaveLength(1);
  });

  it('holds deliveries until a handler is set; ignores deliveries not from the vault', async () => {
    const { bob, receiver, receipts } = setup();
    const env = sealFor(alice, [bob.state], text('early'));
    expect(receiver.handle(delivery(env, bob.state.identity.device, 'mallory@example.org/x'))).toBe(false);
    receiver.handle(delivery(env, bob.state.identity.device));
    await settle();
    expect(receipts()).toEqual([]);
    const seen: string[] = [];
    receiver.setHandler((m) => void seen.push(m.text()));
    await settle();
    expect(seen).toEqual(['early']);
    expect(receipts()).toHaveLength(1);
    await receiver.close();
    expect(receiver.handle(delivery(sealFor(alice, [bob.state], text('late')), bob.state.identity.device))).toBe(true);
    await settle();
    expect(seen).toEqual(['early']);
  });

  it('prunes remembered ids older than the accepted window, keeps recent ones', async () => {
    const { bob, receiver } = setup();
    await bob.replay.add({ sender: 'alice@example.org', messageId: 'old', timestamp: T0 - 31 * 24 * 3600_000 });
    await bob.replay.add({ sender: 'alice@example.org', messageId: 'recent', timestamp: T0 - 3600_000 });
    await receiver.prune();
    expect(await bob.replay.has('alice@example.org', 'old')).toBe(false);
    expect(await bob.replay.has('alice@example.org', 'recent')).toBe(true);
  });
});
