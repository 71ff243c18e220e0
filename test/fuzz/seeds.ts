// Valid stanzas for the fuzzer to start from (issue 9): a submission, a batch of three, one with
// someone else's envelope, every key-directory IQ, MAM form, queries (with, start/end, ids, RSM
// after/before/index, flip-page, another's archive), archive delete and retention, disco. Each is
// valid when the attacker sends it, so mutations reach deep into the handlers.
import {
  bundleToWire,
  decodeBundle,
  envelopeToWire,
  ownArchiveTarget,
  publicBundle,
  seal,
  targetsFromBundles,
  type AgentKeyState,
  type VerifiedBundle,
  type EnvelopeWire,
} from '../../src/keys/index.js';
import { NS } from '../../src/protocol/namespaces.js';
import { bundleToXml, envelopeToXml } from '../../src/protocol/xml-codec.js';
import { xml, type Element } from '../../src/xmpp/index.js';

export const NS_ARCHIVE = 'urn:sealpost:archive:1';

export interface Party {
  jid: string;
  keys: AgentKeyState;
}

/** The bundle of `p` as a fetch would hand it out (the fuzz world reads it from the keys). */
export const bundleOf = (p: Party, now: number): VerifiedBundle => decodeBundle(bundleToWire(publicBundle(p.keys)), { expectJid: p.jid, now });

/** A sealed envelope from `from` to `to` (to the given bundles of `to`'s devices). */
export function sealedFor(from: Party, to: string, bundles: readonly VerifiedBundle[], text: string, now: number): EnvelopeWire {
  const targets = targetsFromBundles(to, [...bundles], now);
  const own = ownArchiveTarget(from.keys);
  return envelopeToWire(
    seal({
      from: from.keys.identity,
      to,
      devices: targets.devices,
      ...(targets.archive === undefined ? {} : { recipientArchive: targets.archive }),
      ...(own === undefined ? {} : { senderArchive: own }),
      plaintext: new TextEncoder().encode(text),
      contentType: 'text/plain',
    }),
  );
}

export interface SeedInput {
  vaultBare: string;
  vaultFull: string;
  attacker: Party;
  /** A victim the attacker may write to and fetch keys of, with that victim's bundles. */
  victim: { jid: string; bundles: readonly VerifiedBundle[] };
  /** A second recipient (for the batch) with its bundles. */
  other: { jid: string; bundles: readonly VerifiedBundle[] };
  /** An envelope sealed by someone else (the attacker cannot send it as its own). */
  foreign: EnvelopeWire;
  /** An archive id of the attacker's own history, if any. */
  ownArchiveId?: string;
  now: number;
}

export function seedStanzas(s: SeedInput): { messages: Element[]; iqs: Element[] } {
  const { attacker, victim, other, now } = s;
  const receipts = (): Element => xml('request', { xmlns: NS.receipts });
  const own = sealedFor(attacker, victim.jid, victim.bundles, 'hello', now);
  const batch = [
    sealedFor(attacker, victim.jid, victim.bundles, 'a', now),
    sealedFor(attacker, victim.jid, victim.bundles, 'b', now),
    sealedFor(attacker, other.jid, other.bundles, 'c', now),
  ];
  const form = (...fields: [string, ...string[]][]): Element =>
    xml('x', { xmlns: NS.dataForms, type: 'submit' }, ...fields.map(([v, ...values]) => xml('field', { var: v }, ...values.map((t) => xml('value', {}, t)))));
  const ownId = s.ownArchiveId ?? 'AAAAAAAAAAAAAAAAAAAAAA';
  const b = bundleToWire(publicBundle(attacker.keys));
  // The publish seed goes through the SDK's own codec (three one-time prekeys are enough): a
  // hand-built copy dropped the archive key's suite once X-Wing became the default, and every
  // seeded publish was refused as malformed.
  const bundle = bundleToXml({ ...b, opks: b.opks.slice(0, 3) });
  const device = String(attacker.keys.identity.device);
  const iq = (type: 'get' | 'set', child: Element): Element => xml('iq', { type, id: 'q1', to: s.vaultFull }, child);
  const rsm = (...children: Element[]): Element => xml('set', { xmlns: NS.rsm }, ...children);
  return {
    messages: [
      xml('message', { to: s.vaultBare, id: 's1', type: 'normal' }, envelopeToXml(own), receipts()),
      xml('message', { to: s.vaultBare, id: 's2', type: 'normal' }, ...batch.map(envelopeToXml), receipts()),
      xml('message', { to: s.vaultBare, id: 's3' }, envelopeToXml(s.foreign), receipts()),
    ],
    iqs: [
      iq('set', xml('publish', { xmlns: NS.keys }, bundle)),
      iq('set', xml('fetch', { xmlns: NS.keys, jid: victim.jid })),
      iq('get', xml('count', { xmlns: NS.keys, device })),
      iq('get', xml('devices', { xmlns: NS.keys, jid: attacker.jid })), // one's own: another's is refused (issue 14)
      iq('set', xml('remove', { xmlns: NS.keys, device })),
      iq('get', xml('query', { xmlns: NS.mam })),
      iq('set', xml('query', { xmlns: NS.mam, queryid: 'f1' }, form(['FORM_TYPE', NS.mam], ['with', other.jid], ['start', '2000-01-01T00:00:00Z']), rsm(xml('max', {}, '5')))),
      iq('set', xml('query', { xmlns: NS.mam, queryid: 'f2' }, form(['FORM_TYPE', NS.mam], ['end', new Date(now + 60_000).toISOString()]), rsm(xml('max', {}, '3'), xml('before', {})), xml('flip-page'))),
      iq('set', xml('query', { xmlns: NS.mam }, form(['FORM_TYPE', NS.mam], ['ids', ownId]), rsm(xml('after', {}, ownId)))),
      iq('set', xml('query', { xmlns: NS.mam, jid: victim.jid }, rsm(xml('index', {}, '2')))),
      iq('set', xml('delete', { xmlns: NS_ARCHIVE }, xml('item', { id: ownId }))),
      iq('set', xml('delete', { xmlns: NS_ARCHIVE, with: other.jid, start: '2000-01-01T00:00:00Z', end: new Date(now).toISOString() })),
      iq('get', xml('retention', { xmlns: NS_ARCHIVE })),
      iq('set', xml('retention', { xmlns: NS_ARCHIVE, expire: '86400' })),
      iq('get', xml('query', { xmlns: NS.discoInfo })),
    ],
  };
}
