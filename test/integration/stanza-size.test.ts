// Message size against the XMPP server's stanza limit (design.md "Limits"; Prosody: 256 KiB, and a
// larger stanza ends the stream that sent it). The largest message that fits goes in, is delivered
// and comes back from history; a larger one is refused by send() at once and never kept (it used to
// end the sender's stream on every resend); a raw item that would not fit once wrapped for delivery
// is refused by the vault with resource-constraint and nothing is stored.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ReceivedMessage } from '../../src/agent/index.js';
import { AppError, ErrorCode } from '../../src/errors/index.js';
import { envelopeToWire, seal } from '../../src/keys/index.js';
import { NS } from '../../src/protocol/namespaces.js';
import { envelopeToXml } from '../../src/protocol/xml-codec.js';
import { xml } from '../../src/xmpp/index.js';
import { waitForStanza } from './helpers.js';
import { rawSenderTo, startAgent, startTestService } from './service-fixture.js';

describe('message size and the stanza limit', () => {
  it('the largest message that fits is stored, delivered and read back from history; a larger one is refused by send() and not kept', async () => {
    const ts = await startTestService();
    const bob = await startAgent(ts, 'bob');
    await bob.agent.stop();
    const alice = await startAgent(ts, 'alice');

    // 192 KiB (the payload limit) is about 256 KiB of base64: over the stanza limit once sealed.
    const t0 = Date.now();
    const err = await alice.agent.send(bob.account.jid, new Uint8Array(randomBytes(192 * 1024))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe(ErrorCode.ResourceLimit);
    expect((err as AppError).message).toMatch(/message too large/);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(alice.agent.outbox.size).toBe(0);

    // 182 KiB to one device plus both (X-Wing, 1,112 bytes more each than X25519) archive keys
    // fits with room for the delivery wrapping.
    const big = new Uint8Array(randomBytes(182 * 1024));
    await alice.agent.send(bob.account.jid, big);
    expect(ts.service.archive.pendingCounts(bob.account.jid).messages).toBe(1);

    const seen: ReceivedMessage[] = [];
    const reopened = await bob.reopen({ onMessage: (m) => void seen.push(m) });
    await expect.poll(() => seen.length, { timeout: 20_000 }).toBe(1);
    expect(Buffer.compare(Buffer.from(seen[0]!.data), Buffer.from(big))).toBe(0);
    await expect.poll(() => ts.service.archive.pendingCounts(bob.account.jid).messages, { timeout: 10_000 }).toBe(0);

    const history: Uint8Array[] = [];
    for await (const e of reopened.history()) if (e.ok) history.push(e.data);
    expect(history).toHaveLength(1);
    expect(Buffer.compare(Buffer.from(history[0]!), Buffer.from(big))).toBe(0);
  });

  it('the vault refuses a raw item that would not fit a delivery stanza, and stores nothing', async () => {
    const ts = await startTestService();
    const bob = await startAgent(ts, 'bob');
    const { conn, keys, targets } = await rawSenderTo(ts, bob.account.jid);
    // 187 KiB: the stanza (about 250 KiB) passes Prosody's 256 KiB, but wrapped for delivery it may not.
    const wire = envelopeToWire(
      seal({ from: keys.identity, to: bob.account.jid, devices: targets.devices, plaintext: new Uint8Array(randomBytes(187 * 1024)), contentType: 'application/octet-stream' }),
    );
    const refusal = waitForStanza(conn, (s) => s.attrs.type === 'error' && s.getChild('rejected', NS.sealed) !== undefined);
    await conn.send(xml('message', { to: ts.vault.jid, id: 'too-big' }, envelopeToXml(wire), xml('request', { xmlns: NS.receipts })));
    const r = await refusal;
    expect(r.getChild('rejected', NS.sealed)?.attrs.id).toBe(wire.id);
    expect(r.getChild('error')?.getChildElements().some((c) => c.name === 'resource-constraint')).toBe(true);
    expect(ts.service.archive.pendingCounts(bob.account.jid).messages).toBe(0);
  });
});
