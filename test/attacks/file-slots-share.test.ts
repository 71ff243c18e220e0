// Attack (issue 14, attack 1 on files, issue 17's slots): one sender takes every file slot of a
// recipient, or the whole of its pending bytes, with upload slots it is allowed to hold (messages
// not sent yet, or sent), so no other sender can send that recipient a file. The sender's share
// (SEALPOST_SENDER_SHARE, as for messages) bounds what one sender holds of a recipient's slots and
// bytes: the attacker is refused resource-constraint with a text, an honest file still arrives.
import { describe, expect, it } from 'vitest';
import { newMessageId } from '../../src/keys/index.js';
import { slotRequestXml } from '../../src/protocol/index.js';
import { StanzaError, xml, type XmppConnection } from '../../src/xmpp/index.js';
import { honestFileArrives } from '../integration/files-fixture.js';
import { connectFreshAccount } from '../integration/helpers.js';
import { startAgent, startTestService, type TestService } from '../integration/service-fixture.js';

const SLOTS = 8;
const PENDING_BYTES = 8 * 1024 * 1024;

async function askSlot(conn: XmppConnection, ts: TestService, recipient: string, size: number): Promise<StanzaError | 'slot'> {
  const iq = xml('iq', { type: 'get', to: ts.service.conn.jid }, slotRequestXml({ size, recipient, messageId: newMessageId() }));
  return conn.sendReceive(iq).then(
    () => 'slot' as const,
    (err: unknown) => {
      if (err instanceof StanzaError) return err;
      throw err;
    },
  );
}

describe('attack: one sender holds every file slot or byte of a recipient', () => {
  it('refuses a sender past its share of the slots and of the bytes; an honest file still arrives', async () => {
    const ts = await startTestService({ SEALPOST_UPLOAD_SLOTS: String(SLOTS), SEALPOST_PENDING_MAX_BYTES: String(PENDING_BYTES) });
    const alice = await startAgent(ts, 'alice');
    const bob = await startAgent(ts, 'bob');
    await bob.agent.stop();
    const mallory = await connectFreshAccount('mallory');

    // Slots: the attacker asks for every one of Bob's slots (fewer than the 16 it may leave waiting).
    const answers: (StanzaError | 'slot')[] = [];
    for (let i = 0; i < SLOTS; i++) answers.push(await askSlot(mallory.conn, ts, bob.account.jid, 1024));
    const granted = answers.filter((a) => a === 'slot').length;
    expect(granted, 'slots one sender holds of a recipient').toBe(SLOTS / 2);
    const refusal = answers.find((a): a is StanzaError => a !== 'slot');
    expect(refusal?.condition).toBe('resource-constraint');
    expect(refusal?.text).toMatch(/share/);
    await honestFileArrives(alice, bob);

    // Bytes: a second attacker asks for one slot as large as Bob's whole pending quota allows.
    const eve = await connectFreshAccount('eve');
    const big = await askSlot(eve.conn, ts, bob.account.jid, PENDING_BYTES - 64 * 1024);
    expect(big === 'slot' ? 'slot' : big.condition, 'a slot of almost all the pending bytes').toBe('resource-constraint');
    expect(big === 'slot' ? '' : big.text).toMatch(/share/);
    expect(await askSlot(eve.conn, ts, bob.account.jid, PENDING_BYTES / 4)).toBe('slot');
    await honestFileArrives(alice, bob);
    await Promise.all([mallory.conn.stop(), eve.conn.stop()]);
  }, 120_000);
});
