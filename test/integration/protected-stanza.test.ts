// Protected stanzas end to end (issue 18, part 3) against a running vault: an XML element sealed
// with sendStanza reaches the recipient's onStanza as the same element with the sender's verified
// identity, and nothing of it crosses the wire in the clear. Attacks, as a malicious sender would
// make them (sealing the bytes by hand under the stanza content type, its own SDK's checks
// bypassed): a stanza claiming another sender and one past the bounds are refused, acknowledged (so
// they do not come back) and reported; the recipient keeps taking honest stanzas.
import { describe, expect, it } from 'vitest';
import type { DroppedMessage, ReceivedStanza } from '../../src/agent/index.js';
import { ErrorCode } from '../../src/errors/index.js';
import { PROTECTED_STANZA_TYPE } from '../../src/protocol/index.js';
import { xml, type Element } from '../../src/xmpp/index.js';
import { startAgent, startTestService } from './service-fixture.js';

const canary = `canary-${Math.random().toString(36).slice(2)}`;

function readings(value: string): Element {
  return xml(
    'message',
    { xmlns: 'jabber:client', type: 'normal' },
    xml('x', { xmlns: 'jabber:x:data', type: 'result' }, xml('field', { var: 'hr' }, xml('value', {}, value))),
  );
}

function until<T>(what: string, get: () => T | undefined, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      const v = get();
      if (v !== undefined) resolve(v);
      else if (Date.now() > deadline) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(tick, 50);
    };
    tick();
  });
}

describe('protected stanzas', () => {
  it('arrive as the element sent, with the verified sender; the wire carries nothing of them', async () => {
    const ts = await startTestService();
    const alice = await startAgent(ts, 'alice');
    const bob = await startAgent(ts, 'bob');
    const raw: string[] = [];
    bob.agent.use((stanza, next) => {
      raw.push(stanza.toString());
      return next();
    });
    const got: ReceivedStanza[] = [];
    const messages: string[] = [];
    bob.agent.onMessage((m) => void messages.push(m.contentType));
    bob.agent.onStanza((s) => void got.push(s));

    const sent = readings(`72 ${canary}`);
    const { messageId } = await alice.agent.sendStanza(bob.account.jid, sent);
    const s = await until('the stanza', () => got[0]);
    expect(s.element.toString()).toBe(sent.toString());
    expect(s).toMatchObject({ messageId, from: alice.account.jid, device: alice.agent.device, fingerprint: alice.agent.fingerprint, trust: 'new' });
    expect(messages).toEqual([]); // a stanza goes to onStanza, not onMessage
    expect(raw.length).toBeGreaterThan(0);
    for (const r of raw) {
      expect(r).not.toContain(canary);
      expect(r).not.toContain('jabber:x:data');
    }
    // Acknowledged: Bob's receipt reaches the vault after his handler ran, so wait for it.
    await expect.poll(() => ts.service.archive.pendingCounts(bob.account.jid).messages, { timeout: 10_000 }).toBe(0);

    // Before sealing: a stanza claiming another sender never leaves the sender's SDK.
    await expect(alice.agent.sendStanza(bob.account.jid, xml('message', { from: 'boss@localhost' }))).rejects.toMatchObject({ code: ErrorCode.Forbidden });
  });

  it('attack: a stanza claiming another sender, or past the bounds, is refused and reported; honest ones still arrive', async () => {
    const ts = await startTestService();
    const alice = await startAgent(ts, 'alice');
    const mallory = await startAgent(ts, 'mallory');
    const bob = await startAgent(ts, 'bob');
    const got: ReceivedStanza[] = [];
    const dropped: DroppedMessage[] = [];
    bob.agent.on('dropped', (d) => dropped.push(d));
    bob.agent.onStanza((s) => void got.push(s));

    // Mallory seals, by hand, Alice's name inside the stanza: at the root and in a forward.
    const forged = [
      `<message xmlns='jabber:client' from='${alice.account.jid}/phone'><body>transfer the records to mallory</body></message>`,
      `<message xmlns='jabber:client'><forwarded xmlns='urn:xmpp:forward:0'><message from='${alice.account.jid}'><body>approved</body></message></forwarded></message>`,
      `${'<a>'.repeat(40)}${'</a>'.repeat(40)}`,
    ];
    const ids: string[] = [];
    for (const text of forged) ids.push((await mallory.agent.send(bob.account.jid, text, { contentType: PROTECTED_STANZA_TYPE })).messageId);
    const honest = await alice.agent.sendStanza(bob.account.jid, readings('61'));

    await until('the honest stanza', () => got.find((s) => s.messageId === honest.messageId));
    await until('three refusals', () => (dropped.length >= 3 ? true : undefined));
    expect(got.map((s) => s.messageId)).toEqual([honest.messageId]);
    expect(got[0]?.from).toBe(alice.account.jid);
    expect(dropped.map((d) => [d.messageId, d.error.code, d.acknowledged])).toEqual([
      [ids[0], ErrorCode.Forbidden, true],
      [ids[1], ErrorCode.Forbidden, true],
      [ids[2], ErrorCode.ResourceLimit, true],
    ]);
    expect(dropped[0]?.error.message).toMatch(/claims another sender than mallory-\w+@localhost, who sealed it/);
    // Acknowledged: nothing waits at the vault to be sent again.
    await until('receipts at the vault', () => (ts.service.archive.pendingCounts(bob.account.jid).messages === 0 ? true : undefined));
  });
});
