// Attack 5 of issue 14, stanza side: the vault had no byte bound of its own. It took whatever the
// XMPP server routed (ejabberd's default stanza size is unlimited) and xmpp.js's parser buffered
// each stanza whole, copying its pending text again on every socket chunk. Here the vault's bound
// (SEALPOST_MAX_INBOUND_STANZA_BYTES) is set below Prosody's 256 KiB so that it, not Prosody, is
// what the attacker meets: a larger stanza is dropped unread and answered policy-violation, the
// vault's stream stays up, and everyone else's traffic goes on.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { NS } from '../../src/protocol/namespaces.js';
import { xml } from '../../src/xmpp/index.js';
import { waitForStanza } from '../integration/helpers.js';
import { startAgent, startTestService } from '../integration/service-fixture.js';
import { attacker, expectRefusal, honestExchange, watchVaultStream } from './attacker.js';

const BOUND = 64 * 1024;

describe('attack: oversize stanza', () => {
  it('drops stanzas past the vault\'s own bound unread and answers policy-violation; honest traffic and the stream stay up', async () => {
    const ts = await startTestService({ SEALPOST_MAX_INBOUND_STANZA_BYTES: String(BOUND) });
    const stream = watchVaultStream(ts);
    const mallory = await attacker(ts);
    const alice = await startAgent(ts, 'alice');
    const bob = await startAgent(ts, 'bob');
    const filler = (n: number): string => randomBytes(n).toString('base64');

    // An IQ of 150 KiB (Prosody takes it: under 256 KiB): a history query with a huge field.
    const bigQuery = xml(
      'query',
      { xmlns: NS.mam },
      xml('x', { xmlns: NS.dataForms, type: 'submit' }, xml('field', { var: 'with' }, xml('value', {}, filler(110 * 1024)))),
    );
    await expectRefusal(mallory.iq('set', bigQuery), 'policy-violation', new RegExp(`more than ${BOUND} bytes: dropped unread`));

    // A message of 150 KiB: answered with a message error, nothing queued.
    const refusal = waitForStanza(mallory.conn, (s) => s.is('message') && s.attrs.type === 'error' && s.attrs.id === 'big-1');
    await mallory.conn.send(xml('message', { to: ts.vault.jid, id: 'big-1' }, xml('sealed', { xmlns: NS.sealed }, filler(110 * 1024))));
    const err = (await refusal).getChild('error');
    expect(err?.getChild('policy-violation', 'urn:ietf:params:xml:ns:xmpp-stanzas')).toBeDefined();

    // A flood of them while an honest message goes through: it arrives, the loop stays free.
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const flood = Promise.allSettled(Array.from({ length: 20 }, () => mallory.iq('set', bigQuery)));
    const got = new Promise<string>((resolve) => bob.agent.onMessage((m) => resolve(m.text())));
    const t0 = Date.now();
    await alice.agent.send(bob.account.jid, 'past the flood');
    await expect(got).resolves.toBe('past the flood');
    const ms = Date.now() - t0;
    const refused = (await flood).filter((r) => r.status === 'rejected' && /dropped unread/.test(String(r.reason))).length;
    loop.disable();
    process.stderr.write(`[oversize-stanza] honest message in ${ms} ms; event-loop delay max ${(loop.max / 1e6).toFixed(0)} ms\n`);
    expect(refused).toBe(20);
    expect(ms).toBeLessThan(10_000);
    stream.assertUp();

    // Variations: a presence (dropped without an answer) and a stanza whose start tag alone is
    // past the bound (nothing to answer to); the vault's parser stays in step with the stream.
    await mallory.conn.send(xml('presence', { to: ts.service.conn.jid }, xml('status', {}, filler(110 * 1024))));
    await mallory.conn.send(xml('iq', { type: 'set', to: ts.service.conn.jid, id: 'wide', pad: filler(110 * 1024) }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
    // Stanzas within the bound are read as before, from the attacker too.
    const form = await mallory.iq('get', xml('query', { xmlns: NS.mam }));
    expect(form.getChild('query', NS.mam)).toBeDefined();
    // Each was dropped by the vault's bound (Prosody passed them all: under its 256 KiB).
    const drops = (): number => readFileSync(ts.logFile, 'utf8').split('\n').filter((l) => l.includes('stanza over our bound dropped unread')).length;
    await expect.poll(drops, { timeout: 5_000 }).toBe(24);
    await honestExchange(ts);
    stream.assertUp();
  });
});
