// What bounds each path, measured in the same run (issue 9, "report what bounds each path"):
// - the agent's crypto per message: sealing 1 KiB to one device plus the recipient's and the
//   sender's archive keys (what the bench's sender does), and opening one delivered copy;
// - the XMPP server's floor: stanzas of the same shape and size as sealpost's submission and
//   delivery batches, relayed by Prosody from one client to another with one small receipt back
//   per stanza, and nothing else (no crypto, no storage, no queue). No design that moves these
//   bytes through this server can beat it; Prosody's CPU per item is its share of the budget.
import { randomBytes } from 'node:crypto';
import { cryptoBackend, initSodium, type BackendName, type SealedEnvelope } from '../../src/keys/index.js';
import { connectXmpp, xml, type Element, type XmppConnection } from '../../src/xmpp/index.js';
import { agentCase } from './crypto-cases.js';
import type { Meter, XmppAccount, XmppServer } from './prosody-path.js';
import { deferred, perSecond } from './stats.js';

export interface CryptoCost {
  /** The libsodium backend the agents ran on. */
  backend: BackendName;
  /** CPU µs to seal 1 KiB to 1 device + the recipient's AK + the sender's AK (single thread). */
  sealUs: number;
  /** CPU µs to open one delivered copy with trust and replay checks. */
  openUs: number;
}

/** Median of `rounds` timings of `n` calls each, in CPU µs per call (this process's CPU time). */
async function usPerCall(fn: () => unknown, n: number, rounds = 7): Promise<number> {
  const xs: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = process.cpuUsage();
    for (let i = 0; i < n; i++) await fn();
    const t = process.cpuUsage(t0);
    xs.push((t.user + t.system) / n);
  }
  return xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
}

export async function cryptoCost(): Promise<CryptoCost> {
  await initSodium();
  const c = agentCase();
  const sealUs = await usPerCall(c.sealOne, 200);
  const envs = Array.from({ length: 7 * 200 + 50 }, c.sealOne);
  let i = 0;
  const openNext = () => c.openOne(envs[i++] as SealedEnvelope);
  for (let w = 0; w < 50; w++) await openNext();
  const openUs = await usPerCall(openNext, 200);
  return { backend: cryptoBackend(), sealUs, openUs };
}

export interface RelayFloor {
  perS: number;
  /** Prosody's CPU µs per item. */
  prosodyUs: number;
}

const b64 = (n: number): string => randomBytes(n).toString('base64');

/** One submitted item as the SDK sends it: three key blocks (device, recipient AK, sender AK) and a 1 KiB payload. */
function submissionItem(from: string, to: string): Element {
  return xml(
    'sealed',
    { xmlns: 'urn:sealpost:sealed:1', suite: 'sp1', id: randomBytes(16).toString('base64url'), from, device: '33420004', to, size: '1064' },
    xml('key', { prekey: '2', device: '170683784' }, b64(267)),
    xml('key', { prekey: '1', ak: 'recipient' }, b64(267)),
    xml('key', { prekey: '1', ak: 'sender' }, b64(267)),
    xml('payload', {}, b64(1064)),
  );
}

/** One delivered item as the vault sends it: the device's key block, the payload, origin and delay. */
function deliveryItem(from: string, to: string): Element {
  return xml(
    'item',
    { xmlns: 'urn:sealpost:sealed:1', id: `sd.${randomBytes(24).toString('base64url')}` },
    xml(
      'sealed',
      { xmlns: 'urn:sealpost:sealed:1', suite: 'sp1', id: randomBytes(16).toString('base64url'), from, device: '33420004', to, size: '1064' },
      xml('key', { prekey: '2', device: '170683784' }, b64(267)),
      xml('payload', {}, b64(1064)),
    ),
    xml('origin', { xmlns: 'urn:sealpost:sealed:1', jid: from, device: '33420004' }),
    xml('delay', { xmlns: 'urn:xmpp:delay', from: 'vault@localhost', stamp: new Date().toISOString() }),
  );
}

/**
 * Relays `n` items, `perStanza` to a stanza, of the given shape from one account to another through
 * Prosody; the receiver answers each stanza with one receipt. Rate until the last receipt is back.
 */
export async function relayFloor(
  server: XmppServer,
  a: XmppAccount,
  b: XmppAccount,
  shape: 'submission' | 'delivery',
  n: number,
  perStanza: number,
  meter?: Meter,
): Promise<RelayFloor> {
  const login = (x: XmppAccount, resource: string): Promise<XmppConnection> =>
    connectXmpp({ service: server.service, domain: server.domain, username: x.username, password: x.password, resource });
  const [ca, cb] = await Promise.all([login(a, 'relay-a'), login(b, 'relay-b')]);
  try {
    await Promise.all([ca.send(xml('presence')), cb.send(xml('presence'))]);
    const make = shape === 'submission' ? submissionItem : deliveryItem;
    const stanzas: Element[] = [];
    for (let i = 0; i < n; i += perStanza)
      stanzas.push(xml('message', { to: `${b.jid}/relay-b`, type: 'normal', id: `r${i}` }, ...Array.from({ length: Math.min(perStanza, n - i) }, () => make(a.jid, b.jid))));
    const all = deferred(`${stanzas.length} relayed stanzas acknowledged`, 120_000);
    let acks = 0;
    cb.on('stanza', (s) => {
      if (s.is('message') && typeof s.attrs.id === 'string' && s.attrs.id.startsWith('r'))
        void cb.send(xml('message', { to: `${a.jid}/relay-a`, type: 'normal' }, xml('received', { xmlns: 'urn:xmpp:receipts', id: s.attrs.id })));
    });
    ca.on('stanza', (s) => {
      if (s.is('message') && s.getChild('received', 'urn:xmpp:receipts') !== undefined && ++acks === stanzas.length) all.resolve();
    });
    const cpu = meter?.();
    const t0 = performance.now();
    for (const s of stanzas) await ca.send(s);
    await all.promise;
    const ms = performance.now() - t0;
    const split = cpu?.();
    return { perS: perSecond(n, ms), prosodyUs: split?.prosody === undefined ? Number.NaN : (split.prosody * 1000) / n };
  } finally {
    await Promise.all([ca.stop(), cb.stop()]);
  }
}
