// The key directory over XMPP (design.md "XMPP surfaces": Keys): IQs to the vault's full JID in
// urn:sealpost:keys:1 — publish, fetch (claims one OPK per device), count, remove — answered with
// RFC 6120 stanza errors. The owner is always the bare JID the XMPP server stamped (invariant 4).
import type { DirectorySlice } from '../config/index.js';
import { AppError, ErrorCode } from '../errors/index.js';
import { bundleToWire, decodeBundle, toBase64 } from '../keys/index.js';
import type { Logger } from '../log/index.js';
import type { Metrics } from '../metrics/index.js';
import { answerIq, attestationsFromXml, attestationToXml, bundleFromXml, bundleToXml, NS, strAttr, uintAttr } from '../protocol/index.js';
import { createRateLimiter, type RateLimiter, type RedisEval } from '../ratelimit/index.js';
import { bareJid, xml, type Element, type XmppConnection } from '../xmpp/index.js';
import type { ClaimedDevice, DirectoryStore } from './store.js';

/** The directory's bounds and rates: the config's directory slice (documented there). */
export type DirectoryLimits = DirectorySlice;

/** Room for the `<iq/>` and `<bundles/>` around the entries of a fetch answer (JIDs of up to 3 × 1,023 bytes). */
const ANSWER_HEADROOM_BYTES = 8 * 1024;

/**
 * Entries in order while they fit `budget` bytes. Bundles are bounded in size, so 32 fit a 256 KiB
 * stanza many times over; the cut only matters with settings that allow huge device sets.
 */
function withinBytes(entries: Element[], budget: number): Element[] {
  let used = 0;
  const out: Element[] = [];
  for (const e of entries) {
    used += Buffer.byteLength(e.toString());
    if (used > budget) break;
    out.push(e);
  }
  return out;
}

export interface DirectoryServiceDeps extends DirectoryLimits {
  conn: XmppConnection;
  store: DirectoryStore;
  /** Redis for the rate limiters, and their key prefix. */
  redis: RedisEval;
  prefix: string;
  /** The deployment's key for names in Redis (the limiters' bucket names). */
  redisNameKey: Uint8Array;
  logger: Logger;
  metrics?: Metrics;
  now?: () => number;
}

function deviceAttr(el: Element): number {
  const device = uintAttr(el, 'device', el.name);
  if (device < 1 || device > 0x7fffffff) throw new AppError(ErrorCode.BadInput, `${el.name}: device out of range`);
  return device;
}

function entryXml(c: ClaimedDevice): Element {
  return xml(
    'entry',
    { 'first-seen': String(c.firstSeen), countersig: toBase64(c.countersig) },
    bundleToXml(bundleToWire(c.bundle)),
    ...c.attestations.map(attestationToXml),
  );
}

/** Registers the directory's IQ handlers on the vault connection; close() retires them. */
export function registerDirectory(deps: DirectoryServiceDeps): { close(): void } {
  const { conn, store } = deps;
  const limits: DirectoryLimits = deps;
  const bucket = (name: string, capacity: number, perMinute: number): RateLimiter =>
    createRateLimiter(deps.redis, `${deps.prefix}:rl:${name}`, { capacity, perMinute }, deps.redisNameKey);
  const claimLimiter = bucket('claim', deps.claimBurst, deps.claimRatePerMinute);
  const targetLimiter = bucket('claim-target', deps.claimTargetBurst, deps.claimTargetRatePerMinute);
  const lookupLimiter = bucket('lookup', deps.lookupBurst, deps.lookupRatePerMinute);
  const offs: (() => void)[] = [];
  const now = deps.now ?? Date.now;
  const log = deps.logger.child({ module: 'directory' });
  const serverKey = toBase64(store.serverPublicKey);

  const lookup = async (requester: string, target: string): Promise<void> => {
    if (requester === target) return;
    const take = await lookupLimiter.take(requester);
    if (!take.allowed)
      throw new AppError(ErrorCode.Policy, `too many directory lookups of other accounts; retry in ${Math.ceil(take.retryAfterMs / 1000)} s`);
  };

  const notifyOwner = async (jid: string, device: number, remaining: number): Promise<void> => {
    await conn.send(
      xml('message', { to: jid, type: 'normal' }, xml('replenish', { xmlns: NS.keys, device: String(device), remaining: String(remaining) })),
    );
  };

  offs.push(conn.iqCallee.set(NS.keys, 'publish', (ctx) =>
    answerIq(log, 'publish', () => {
      const owner = bareJid(ctx.from);
      const bundleEl = ctx.element.getChild('bundle', NS.keys);
      if (bundleEl === undefined) throw new AppError(ErrorCode.BadInput, 'publish: a <bundle/> is required');
      const bundle = decodeBundle(bundleFromXml(bundleEl, limits.maxOneTimePrekeys), {
        expectJid: owner,
        maxOpks: limits.maxOneTimePrekeys,
        now: now(),
      });
      const result = store.publish(bundle, now(), limits.maxDevices, attestationsFromXml(ctx.element));
      log.info({ device: bundle.device, opks: bundle.oneTimePrekeys.length, identityChanged: result.identityChanged }, 'bundle published');
      return xml(
        'published',
        { xmlns: NS.keys, 'first-seen': String(result.firstSeen), countersig: toBase64(result.countersig), 'server-key': serverKey },
        ...result.dropped.map((id) => xml('dropped', { id: String(id) })),
      );
    }),
  ));

  offs.push(conn.iqCallee.set(NS.keys, 'fetch', (ctx) =>
    answerIq(log, 'fetch', async () => {
      const requester = bareJid(ctx.from);
      const target = bareJid(strAttr(ctx.element, 'jid', 'fetch'));
      await lookup(requester, target);
      const take = await claimLimiter.take(`${requester} ${target}`);
      if (!take.allowed) {
        deps.metrics?.prekeyClaims.inc({ result: 'refused' });
        throw new AppError(ErrorCode.Policy, `too many prekey claims for ${target}; retry in ${Math.ceil(take.retryAfterMs / 1000)} s`);
      }
      const perTarget = await targetLimiter.take(target);
      const claimed = store.claim(target, limits.prekeyLowWater, limits.maxDevices, perTarget.allowed);
      if (claimed.length === 0) throw new AppError(ErrorCode.NotFound, `no published devices for ${target}: its owner has not published keys yet`);
      for (const c of claimed) {
        deps.metrics?.prekeyClaims.inc({ result: c.bundle.oneTimePrekeys.length > 0 ? 'one-time' : 'signed' });
        if (c.needsNotice)
          notifyOwner(target, c.bundle.device, c.remaining).catch((err: unknown) =>
            log.warn({ err, jid: target }, 'replenish notice not sent'),
          );
      }
      const entries = withinBytes(claimed.map(entryXml), limits.maxStanzaBytes - ANSWER_HEADROOM_BYTES);
      if (entries.length < claimed.length) log.warn({ jid: target, devices: claimed.length, sent: entries.length }, 'fetch answer cut to the stanza limit');
      return xml('bundles', { xmlns: NS.keys, jid: target, 'server-key': serverKey }, ...entries);
    }),
  ));

  offs.push(conn.iqCallee.get(NS.keys, 'count', (ctx) =>
    answerIq(log, 'count', () => {
      const owner = bareJid(ctx.from);
      const device = deviceAttr(ctx.element);
      const remaining = store.count(owner, device);
      if (remaining === undefined) throw new AppError(ErrorCode.NotFound, `device ${device} of ${owner} is not published`);
      return xml('count', { xmlns: NS.keys, device: String(device), remaining: String(remaining), 'low-water': String(limits.prekeyLowWater) });
    }),
  ));

  offs.push(conn.iqCallee.get(NS.keys, 'devices', (ctx) =>
    answerIq(log, 'devices', async () => {
      const target = bareJid(strAttr(ctx.element, 'jid', 'devices'));
      await lookup(bareJid(ctx.from), target);
      // Each device with its identity key, the countersignature and its attestations: nothing claimed.
      const devices = store.published(target, limits.maxDevices).map((d) =>
        xml(
          'device',
          { id: String(d.device), ik: toBase64(d.identityKey), 'first-seen': String(d.firstSeen), countersig: toBase64(d.countersig) },
          ...d.attestations.map(attestationToXml),
        ),
      );
      return xml('devices', { xmlns: NS.keys, jid: target, 'server-key': serverKey }, ...devices);
    }),
  ));

  offs.push(conn.iqCallee.set(NS.keys, 'remove', (ctx) =>
    answerIq(log, 'remove', () => {
      const owner = bareJid(ctx.from);
      const device = deviceAttr(ctx.element);
      if (!store.remove(owner, device)) throw new AppError(ErrorCode.NotFound, `device ${device} of ${owner} is not published`);
      log.info({ device }, 'device removed');
      return true;
    }),
  ));
  return { close: () => offs.forEach((off) => off()) };
}
