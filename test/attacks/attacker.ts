// The attacker of issue 14: one ordinary account on the vault's XMPP server, on a plain connection
// (no SDK, so nothing client-side holds it back), speaking the vault's protocol by hand. Beside
// it, the checks every attack test makes on the honest side: the vault's stream stayed up the
// whole time, and an honest sender's message still reaches its recipient.
import { expect, onTestFinished } from 'vitest';
import { bundleToWire, createAgentKeys, initSodium, publicBundle, type AgentKeyState } from '../../src/keys/index.js';
import { NS } from '../../src/protocol/namespaces.js';
import { bundleToXml } from '../../src/protocol/xml-codec.js';
import { StanzaError, xml, type Element, type XmppConnection } from '../../src/xmpp/index.js';
import { connectFreshAccount, goOnline, type Account } from '../integration/helpers.js';
import { startAgent, type TestService } from '../integration/service-fixture.js';

export interface Attacker {
  account: Account;
  conn: XmppConnection;
  /** The vault's full JID (key IQs go there). */
  vault: string;
  /** Sends an IQ to the vault; resolves with the result or rejects with a StanzaError. */
  iq(type: 'get' | 'set', child: Element): Promise<Element>;
  /** Publishes a fresh device (keys made here, `opks` one-time prekeys) under the attacker's JID. */
  publishDevice(opks?: number): Promise<AgentKeyState>;
  /** A fetch (claim) of `jid`'s bundles. */
  fetch(jid: string): Promise<Element>;
}

/** A fresh account, online, aimed at `ts`'s vault. */
export async function attacker(ts: Pick<TestService, 'service'>, prefix = 'mallory'): Promise<Attacker> {
  await initSodium();
  const { account, conn } = await connectFreshAccount(prefix);
  await goOnline(conn);
  const vault = ts.service.conn.jid;
  const iq = (type: 'get' | 'set', child: Element): Promise<Element> => conn.sendReceive(xml('iq', { type, to: vault }, child), 20_000);
  return {
    account,
    conn,
    vault,
    iq,
    async publishDevice(opks = 1) {
      const keys = createAgentKeys({ jid: account.jid, now: Date.now(), oneTimePrekeys: opks });
      await iq('set', xml('publish', { xmlns: NS.keys }, bundleToXml(bundleToWire(publicBundle(keys)))));
      return keys;
    },
    fetch: (jid) => iq('set', xml('fetch', { xmlns: NS.keys, jid })),
  };
}

/** Expects `err` to be a stanza error with RFC 6120 `condition` and a text matching `text`. */
export function checkRefusal(err: unknown, condition: string, text: RegExp): StanzaError {
  expect(err, `expected a ${condition} refusal`).toBeInstanceOf(StanzaError);
  const se = err as StanzaError;
  expect(se.condition).toBe(condition);
  expect(se.text ?? '').toMatch(text);
  return se;
}

/** Expects `p` to be refused with RFC 6120 `condition` and a text matching `text`. */
export async function expectRefusal(p: Promise<unknown>, condition: string, text: RegExp): Promise<StanzaError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  return checkRefusal(err, condition, text);
}

/**
 * Watches the vault's own XMPP stream from now on: `assertUp()` fails when it went offline even
 * once (a reconnect hides a dropped stream, so the status alone is not enough).
 */
export function watchVaultStream(ts: Pick<TestService, 'service'>): { assertUp(): void } {
  let drops = 0;
  const jid = ts.service.conn.jid;
  const off = ts.service.conn.on('offline', () => drops++);
  onTestFinished(off);
  return {
    assertUp() {
      expect(drops, "the vault's stream went offline").toBe(0);
      expect(ts.service.conn.status).toBe('online');
      expect(ts.service.conn.jid).toBe(jid);
    },
  };
}

/** An honest sender and recipient (the real SDK) exchange one message through the vault. */
export async function honestExchange(ts: Pick<TestService, 'vault'>, text = 'honest hello'): Promise<void> {
  const alice = await startAgent(ts, 'alice');
  const bob = await startAgent(ts, 'bob');
  const got = new Promise<string>((resolve) => bob.agent.onMessage((m) => resolve(m.text())));
  await alice.agent.send(bob.account.jid, text);
  await expect(got).resolves.toBe(text);
}
