// Presence at the vault (design.md "XMPP surfaces": Presence): it approves subscription requests
// from allowed domains and subscribes back, and answers an agent's available presence (directed
// or broadcast) with directed presence from its full JID, so the agent knows where to send IQs.
import { ANNOUNCE_MAX_SKEW_MS, verifyAnnouncement } from '../keys/index.js';
import type { Logger } from '../log/index.js';
import { announcementFromPresence, batchCapability } from '../protocol/index.js';
import { parseJid, stanzaError, xml, type Element, type XmppConnection } from '../xmpp/index.js';

/**
 * What is done with an agent's presence. A hook may return a promise: it settles when the presence
 * was applied, and rejects when it was not (a shard's owner that lost its lease meanwhile), so a
 * forwarded presence can be tried again elsewhere; the ingest's own handler does not wait for it.
 */
export interface PresenceHooks {
  /**
   * An agent resource became available; `stanza` is its presence; `refuse` answers it with a
   * presence error. `forwardId`: the ingest's id of this one forwarded presence, the same on each
   * try (a try that stopped half-way, its owner killed or paused, does not make the next a replay).
   */
  available?(full: string, stanza: Element, refuse: (text: string) => void, forwardId?: string): void | Promise<void>;
  unavailable?(full: string): void | Promise<void>;
  /** The account has no available resource: a bare-JID unavailable (e.g. the server's answer to the probe it sends at our initial presence). */
  offline?(bare: string): void | Promise<void>;
}

export interface PresenceOptions {
  conn: XmppConnection;
  allowedDomains: readonly string[];
  logger: Logger;
  hooks?: PresenceHooks;
}

/** Registers the presence handling; close() stops it. */
export function registerPresence(options: PresenceOptions): { close(): void } {
  const { conn } = options;
  const log = options.logger.child({ module: 'presence' });
  const allowed = new Set(options.allowedDomains.map((d) => d.toLowerCase()));

  const off = conn.on('stanza', (stanza) => {
    if (!stanza.is('presence') || typeof stanza.attrs.from !== 'string') return;
    let from;
    try {
      from = parseJid(stanza.attrs.from);
    } catch {
      return;
    }
    if (from.bare === conn.bareJid) return; // our own resources
    const type = stanza.attrs.type as string | undefined;
    const send = (el: Element): void => void conn.send(el).catch((err: unknown) => log.warn({ error: (err as Error).message }, 'presence reply failed'));
    // Failures are logged where they happen (deviceAnnouncements); nothing here waits for them.
    const handled = (r: void | Promise<void>): void => void Promise.resolve(r).catch(() => undefined);
    if (type === 'subscribe') {
      if (allowed.has(from.domain)) {
        send(xml('presence', { to: from.bare, type: 'subscribed' }));
        send(xml('presence', { to: from.bare, type: 'subscribe' }));
        log.info({ domain: from.domain }, 'subscription approved');
      } else {
        send(xml('presence', { to: from.bare, type: 'unsubscribed' }));
        log.info({ domain: from.domain }, 'subscription refused: domain not allowed');
      }
      return;
    }
    if (!allowed.has(from.domain)) return;
    if (from.resource === undefined) {
      if (type === 'unavailable') handled(options.hooks?.offline?.(from.bare));
      return;
    }
    if (type === undefined) {
      send(xml('presence', { to: from.full }));
      // RFC 6120 §8.3: a presence error (not-acceptable) tells the sender why its announcement was refused.
      const refuse = (text: string): void =>
        send(xml('presence', { to: from.full, type: 'error' }, stanzaError('modify', 'not-acceptable', text)));
      handled(options.hooks?.available?.(from.full, stanza, refuse));
    } else if (type === 'unavailable') {
      handled(options.hooks?.unavailable?.(from.full));
    }
  });
  return { close: off };
}

/** The directory's identity key of (jid, device); undefined when none is published. */
export interface DeviceKeyLookup {
  identityKey(jid: string, device: number): Uint8Array | undefined;
}

/** Which resource is which device (the Redis registry in the service). */
export interface DeviceRegistry {
  /** `batch`: the most copies per delivery stanza this session takes (none: single deliveries). */
  available(jid: string, resource: string, device: number, batch?: number): Promise<string | undefined>;
  unavailable(jid: string, resource: string): Promise<number | undefined>;
  /** Forgets every resource of `jid`; returns the devices that were registered. */
  offline(jid: string): Promise<number[]>;
  /**
   * Takes an announcement's timestamp if newer than the device's last accepted one; false for a
   * replay. With `forwardId`, the same timestamp is taken again under the same id (a forwarded
   * presence tried again after its first owner stopped half-way), never under another.
   */
  advance(jid: string, device: number, timestamp: number, keepMs: number, forwardId?: string): Promise<boolean>;
}

/** What a device's coming and going sets off (delivery jobs in the service). */
export interface DeviceListener {
  /** `moved`: the device was registered at another resource until now. */
  available(jid: string, device: number, moved: boolean): Promise<void>;
  unavailable(jid: string, device: number): void;
}

export interface AnnouncementDeps {
  keys: DeviceKeyLookup;
  registry: DeviceRegistry;
  listener: DeviceListener;
  logger: Logger;
  now?: () => number;
}

/**
 * Presence hooks for signed device announcements (design.md "XMPP surfaces": Presence): an
 * announcement is checked against the identity key the directory holds for (stamped JID, device)
 * and bound to the stamped resource; a forged or stale one is logged and ignored. A user's
 * presences are handled one after another, so an available and an unavailable cannot swap.
 */
export function deviceAnnouncements(deps: AnnouncementDeps): Required<PresenceHooks> {
  const log = deps.logger.child({ module: 'presence' });
  const now = deps.now ?? Date.now;
  const chains = new Map<string, Promise<void>>();
  // Returns the outcome of `fn` (logged here when it failed); the chain goes on either way.
  const serial = (jid: string, fn: () => Promise<void>): Promise<void> => {
    const run = (chains.get(jid) ?? Promise.resolve()).then(fn);
    const next = run.catch((err: unknown) => log.warn({ error: (err as Error).message }, 'presence handling failed'));
    chains.set(jid, next);
    void next.then(() => {
      if (chains.get(jid) === next) chains.delete(jid);
    });
    return run;
  };

  return {
    available(full, stanza, refuse, forwardId) {
      let from;
      let wire;
      try {
        from = parseJid(full);
        wire = announcementFromPresence(stanza);
      } catch (err) {
        log.info({ reason: 'malformed', error: (err as Error).message }, 'device announcement ignored');
        return;
      }
      if (wire === undefined || from.resource === undefined) return; // plain presence: nothing to register
      const jid = from.bare;
      const resource = from.resource;
      const check = verifyAnnouncement({ jid, resource, wire, identityKeyOf: (d) => deps.keys.identityKey(jid, d), now: now() });
      if (!check.ok) {
        // A device that has not published yet is normal at its first start; anything else is not.
        if (check.reason === 'unknown-device') log.info({ reason: check.reason, error: check.text }, 'device announcement ignored');
        else {
          log.warn({ reason: check.reason, error: check.text }, 'forged or stale device announcement ignored');
          refuse(`device announcement refused: ${check.text}`);
        }
        return;
      }
      return serial(jid, async () => {
        // Replay (issue 14): the same signed announcement again from the same full JID (a session
        // that took over the account and resource) would register the device there again.
        if (!(await deps.registry.advance(jid, check.device, check.timestamp, 2 * ANNOUNCE_MAX_SKEW_MS, forwardId))) {
          log.warn({ reason: 'replay', device: check.device, forwardId }, 'replayed device announcement ignored');
          refuse(`device announcement refused: device ${check.device}: not newer than the last one accepted`);
          return;
        }
        const before = await deps.registry.available(jid, resource, check.device, batchCapability(stanza));
        log.debug({ device: check.device, forwardId }, 'device available');
        await deps.listener.available(jid, check.device, before !== undefined);
      });
    },
    unavailable(full) {
      let from;
      try {
        from = parseJid(full);
      } catch {
        return;
      }
      const { bare, resource } = from;
      if (resource === undefined) return;
      return serial(bare, async () => {
        const device = await deps.registry.unavailable(bare, resource);
        if (device === undefined) return;
        log.debug({ device }, 'device unavailable');
        deps.listener.unavailable(bare, device);
      });
    },
    offline(bare) {
      // After a vault restart the registry may still hold sessions that ended while it was away.
      return serial(bare, async () => {
        for (const device of await deps.registry.offline(bare)) {
          log.debug({ device }, 'device unavailable (account offline)');
          deps.listener.unavailable(bare, device);
        }
      });
    },
  };
}
