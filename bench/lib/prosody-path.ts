// What an operator would use instead of sealpost: the XMPP server's own offline storage
// (Prosody's mod_offline, XEP-0160). A sender sends N plain `<message type='chat'>`s with a 1 KiB
// body to an account that is offline; "stored" is when a ping sent after the last one is answered
// (a session's stanzas are handled in order, so by then every message went through mod_offline);
// the count is verified when the account logs in, sends initial presence and gets all N back.
import { randomBytes } from 'node:crypto';
import { connectXmpp, xml, type XmppConnection } from '../../src/xmpp/index.js';
import type { CpuSplit } from './cpu.js';
import { deferred, perSecond } from './stats.js';

export interface XmppAccount {
  username: string;
  password: string;
  jid: string;
}

export interface XmppServer {
  service: string;
  domain: string;
}

export interface PathResult {
  storeMs: number;
  drainMs: number;
  storePerS: number;
  drainPerS: number;
  /** ms after the store phase began at which each message counted as stored (for the chart). */
  storeTimes: number[];
  /** ms after presence at which each message reached the application. */
  drainTimes: number[];
  /** CPU ms per process over each phase, when a meter was given. */
  storeCpu?: CpuSplit;
  drainCpu?: CpuSplit;
}

/** Starts a CPU measurement; calling the result ends it. */
export type Meter = () => () => CpuSplit;

/** A printable 1 KiB body (base64 of random bytes): as large on the wire as 1 KiB of ciphertext. */
export function body1k(): string {
  return randomBytes(768).toString('base64');
}

async function login(server: XmppServer, a: XmppAccount, resource: string): Promise<XmppConnection> {
  return connectXmpp({ service: server.service, domain: server.domain, username: a.username, password: a.password, resource });
}

function ping(conn: XmppConnection, domain: string): Promise<unknown> {
  return conn.sendReceive(xml('iq', { type: 'get', to: domain }, xml('ping', { xmlns: 'urn:xmpp:ping' })), 120_000);
}

export async function runProsodyPath(server: XmppServer, sender: XmppAccount, recipient: XmppAccount, n: number, meter?: Meter): Promise<PathResult> {
  const from = await login(server, sender, 'bench-sender');
  const bodies = Array.from({ length: n }, () => body1k());
  let storeMs: number;
  let storeCpu: CpuSplit | undefined;
  const storeTimes: number[] = [];
  try {
    await from.send(xml('presence'));
    await ping(from, server.domain);
    const cpu = meter?.();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      await from.send(xml('message', { to: recipient.jid, type: 'chat', id: `p${i}` }, xml('body', {}, bodies[i] as string)));
      // Prosody stores each as it is handled; only the ping below proves it. Until then the chart
      // shows the send time.
      storeTimes.push(performance.now() - t0);
    }
    await ping(from, server.domain);
    storeMs = performance.now() - t0;
    storeCpu = cpu?.();
    storeTimes[storeTimes.length - 1] = storeMs;
  } finally {
    await from.stop();
  }

  const to = await login(server, recipient, 'bench-recipient');
  const drainTimes: number[] = [];
  let drainCpu: CpuSplit | undefined;
  try {
    const all = deferred(`${n} offline messages from Prosody`, 300_000);
    let t0 = 0;
    const expected = new Set(bodies);
    to.on('stanza', (stanza) => {
      if (!stanza.is('message') || stanza.attrs.type !== 'chat') return;
      const text = stanza.getChildText('body');
      if (text === null || !expected.delete(text)) return;
      drainTimes.push(performance.now() - t0);
      if (expected.size === 0) all.resolve();
    });
    const cpu = meter?.();
    t0 = performance.now();
    await to.send(xml('presence'));
    await all.promise;
    drainCpu = cpu?.();
  } finally {
    await to.stop();
  }
  const drainMs = drainTimes.at(-1) ?? 0;
  return {
    storeMs,
    drainMs,
    storePerS: perSecond(n, storeMs),
    drainPerS: perSecond(n, drainMs),
    storeTimes,
    drainTimes,
    ...(storeCpu === undefined ? {} : { storeCpu }),
    ...(drainCpu === undefined ? {} : { drainCpu }),
  };
}

/** Presence → first offline message, over `rounds` logins, each with one message waiting. */
export async function prosodyFirstDelivery(server: XmppServer, sender: XmppAccount, recipient: XmppAccount, rounds: number): Promise<number[]> {
  const from = await login(server, sender, 'bench-sender');
  const samples: number[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      await from.send(xml('message', { to: recipient.jid, type: 'chat', id: `f${i}` }, xml('body', {}, body1k())));
      await ping(from, server.domain);
      const to = await login(server, recipient, 'bench-recipient');
      try {
        const first = deferred<number>('the first offline message', 30_000);
        const t0 = performance.now();
        to.on('stanza', (s) => {
          if (s.is('message') && s.getChild('body') !== undefined) first.resolve(performance.now() - t0);
        });
        await to.send(xml('presence'));
        samples.push(await first.promise);
      } finally {
        await to.stop();
      }
    }
  } finally {
    await from.stop();
  }
  return samples;
}
