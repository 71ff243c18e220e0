// Shared by the quota attacks (issue 14, attacks 1 and 3): a raw sender submitting hand-sealed
// items one at a time and reading the vault's answer, and a measure of what the test's service
// keeps in Redis (its keys and their bytes), to show refused items leave nothing there.
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { bundleToWire, envelopeToWire, publicBundle, seal, type EnvelopeWire } from '../../src/keys/index.js';
import { NS } from '../../src/protocol/namespaces.js';
import { bundleToXml, envelopeToXml } from '../../src/protocol/xml-codec.js';
import { createRedis } from '../../src/workers/index.js';
import { xml, type Element } from '../../src/xmpp/index.js';
import { services, waitForStanza } from '../integration/helpers.js';
import type { RawSender, TestService } from '../integration/service-fixture.js';

/** Publishes the raw sender's device, so a recipient's SDK finds its key in the directory and opens its messages. */
export async function publishRaw(ts: Pick<TestService, 'service'>, from: RawSender): Promise<void> {
  await from.conn.sendReceive(xml('iq', { type: 'set', to: ts.service.conn.jid }, xml('publish', { xmlns: NS.keys }, bundleToXml(bundleToWire(publicBundle(from.keys))))));
}

/** A message of `bytes` random bytes from `from` to its target, with a history copy when `history`. */
export function sealedBy(from: RawSender, to: string, bytes: number, history = false): EnvelopeWire {
  const archive = from.targets.archive;
  if (history && archive === undefined) throw new Error('the recipient published no archive key');
  return envelopeToWire(
    seal({
      from: from.keys.identity,
      to,
      devices: from.targets.devices,
      ...(history && archive !== undefined ? { recipientArchive: archive } : {}),
      plaintext: new Uint8Array(randomBytes(bytes)),
      contentType: 'application/octet-stream',
    }),
  );
}

/** Submits one item and resolves with the vault's answer to it: its receipt or its refusal. */
export async function submitRaw(ts: Pick<TestService, 'vault'>, from: RawSender, wire: EnvelopeWire, timeoutMs = 15_000): Promise<Element> {
  const id = `q-${wire.id}`;
  const answer = waitForStanza(
    from.conn,
    (s) => s.is('message') && (s.attrs.type === 'error' ? s.attrs.id === id : s.getChild('received', NS.receipts)?.attrs.id === id),
    timeoutMs,
  );
  await from.conn.send(xml('message', { to: ts.vault.jid, id }, envelopeToXml(wire), xml('request', { xmlns: NS.receipts })));
  return answer;
}

/** Expects `reply` to be a refusal with RFC 6120 `condition` and a text matching `text`. */
export function expectRefused(reply: Element, condition: string, text: RegExp, what: string): void {
  expect(reply.attrs.type, what).toBe('error');
  const error = reply.getChild('error');
  expect(error?.getChild(condition, 'urn:ietf:params:xml:ns:xmpp-stanzas'), `a ${condition} condition`).toBeDefined();
  expect(error?.getChildText('text', 'urn:ietf:params:xml:ns:xmpp-stanzas') ?? '').toMatch(text);
}

/** The test service's Redis footprint: its key names and the bytes they use (MEMORY USAGE). */
export async function redisFootprint(ts: Pick<TestService, 'config'>): Promise<{ keys: string[]; bytes: number; failed: number }> {
  const redis = createRedis(services().redisUrl, 'worker');
  try {
    const keys = (await redis.keys(`${ts.config.queuePrefix}:*`)).sort();
    let bytes = 0;
    for (const k of keys) bytes += Number(await redis.call('MEMORY', 'USAGE', k, 'SAMPLES', '0')) || 0;
    const failed = keys.filter((k) => k.endsWith(':failed'));
    let failedJobs = 0;
    for (const k of failed) failedJobs += await redis.zcard(k);
    return { keys, bytes, failed: failedJobs };
  } finally {
    await redis.quit();
  }
}
