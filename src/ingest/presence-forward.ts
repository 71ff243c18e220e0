// Presence of users when the ingest is not the owner of their shard (issue 15): the ingest, which
// holds the vault's available session and so receives presence, forwards each agent's available
// (with its signed device announcement), unavailable and offline to the owner of the user's shard
// over the request bus; the owner checks the announcement against its directory and starts or
// stops delivery, exactly as a single process does (deviceAnnouncements). A user's presences are
// forwarded in arrival order and the owner handles them one after another; it answers once the
// presence is applied, and applies it only while it holds the user's shard (leaseGuard), so a
// node that wakes from a pause past its lease does not apply presences it heard meanwhile (an
// older unavailable after the new owner registered the device's next session: seen in the
// scale-out run) and a presence not applied is tried again by the ingest, at the shard's owner.
import { randomBytes } from 'node:crypto';
import { AppError, ErrorCode } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import { announcementFromPresence, NS } from '../protocol/index.js';
import { bareJid, parseXml, stanzaError, xml, type XmppConnection } from '../xmpp/index.js';
import type { AnnouncementDeps, PresenceHooks } from './presence.js';

export interface ForwardedPresence {
  kind: 'presence';
  type: 'available' | 'unavailable' | 'offline';
  /** The stamped full JID (bare for offline). */
  from: string;
  /** The available presence, for its announcement. */
  stanza?: string;
  /** The ingest's id of this presence, the same on each try (idempotent at the owner). */
  id?: string;
}

export function isForwardedPresence(p: unknown): p is ForwardedPresence {
  const f = p as Partial<ForwardedPresence> | null;
  return typeof f === 'object' && f !== null && f.kind === 'presence' && typeof f.from === 'string' && ['available', 'unavailable', 'offline'].includes(String(f.type));
}

/** Ingest: presence hooks that hand each presence to the owner of the user's shard. */
export function forwardPresence(deps: {
  bus: { request(shard: number, payload: unknown, timeoutMs?: number): Promise<unknown> };
  shardOf(jid: string): number;
  logger: Logger;
  /** Tries and the pause between them while a shard has no owner (default 60, 1 s). */
  retries?: number;
  retryMs?: number;
}): { [K in keyof PresenceHooks]-?: (...args: Parameters<Required<PresenceHooks>[K]>) => void } {
  const log = deps.logger.child({ module: 'presence-forward' });
  // The latest presence of each JID: a retry is dropped once a newer one was sent (order kept).
  // An offline (the bare JID: every resource gone) is dropped once any newer presence of the user
  // was sent, and a resource's presence once a newer offline was: an offline tried again after the
  // next session's announcement would unregister that session's devices.
  const latest = new Map<string, number>();
  const users = new Map<string, { inFlight: number; newest: number; offline: number }>();
  let seq = 0;
  // Forward ids are unique across ingests and restarts: a random prefix per process, then a counter.
  const ingestId = randomBytes(9).toString('base64url');
  const retryMs = deps.retryMs ?? 1_000;
  // `device` (from the announcement, if any) only names the presence in debug logs.
  const send = (p: ForwardedPresence, device?: number): void => {
    let shard: number;
    let bare: string;
    try {
      bare = bareJid(p.from);
      shard = deps.shardOf(bare);
    } catch {
      return;
    }
    const mine = ++seq;
    latest.set(p.from, mine);
    const user = users.get(bare) ?? { inFlight: 0, newest: 0, offline: 0 };
    users.set(bare, user);
    user.inFlight++;
    user.newest = mine;
    if (p.type === 'offline') user.offline = mine;
    p.id = `${ingestId}${mine.toString(36)}`;
    const superseded = (): boolean => latest.get(p.from) !== mine || (p.type === 'offline' ? user.newest !== mine : user.offline > mine);
    const done = (): void => {
      if (latest.get(p.from) === mine) latest.delete(p.from);
      if (--user.inFlight === 0 && users.get(bare) === user) users.delete(bare);
    };
    // No owner right now (a takeover, until the dead owner's lease ran out): tried again every
    // second for a while. Dropped, a device coming online then waited for its next session (the
    // scale-out test's deliveries stalled at 67 presences not forwarded).
    const attempt = (n: number): void => {
      if (n > 1 && superseded()) return done();
      void deps.bus.request(shard, p).then(
        () => {
          log.debug({ shard, type: p.type, device, id: p.id, attempt: n }, 'presence forwarded');
          done();
        },
        (err: unknown) => {
          const newer = superseded();
          log.debug({ shard, type: p.type, device, id: p.id, attempt: n, newer, error: (err as Error).message }, 'presence not forwarded on this try');
          if (newer) return done();
          if (n >= (deps.retries ?? 60)) {
            done();
            log.info({ shard, type: p.type, error: (err as Error).message }, 'presence not forwarded');
            return;
          }
          setTimeout(() => attempt(n + 1), retryMs).unref();
        },
      );
    };
    attempt(1);
  };
  return {
    available: (full, stanza) => {
      // A plain available (no device announcement: an agent's initial broadcast presence, or the
      // one the server sends again when a subscription is approved) changes nothing at the owner,
      // and as the newest presence of the JID it would cancel the tries of the announcement sent
      // just before it, during a takeover: that device was never registered (a scale-out run at
      // 5,000 messages: a device got none of its copies and no owner ever saw its announcement).
      if (stanza.getChild('announce', NS.sealpost) === undefined) return;
      send({ kind: 'presence', type: 'available', from: full, stanza: stanza.toString() }, deviceOf(stanza));
    },
    unavailable: (full) => send({ kind: 'presence', type: 'unavailable', from: full }),
    offline: (bare) => send({ kind: 'presence', type: 'offline', from: bare }),
  };
}

function deviceOf(stanza: Parameters<typeof announcementFromPresence>[0]): number | undefined {
  try {
    return announcementFromPresence(stanza)?.device;
  } catch {
    return undefined;
  }
}

/**
 * Owner: applies a forwarded presence with the hooks a single process registers; resolves once it
 * was applied (or refused to the agent), rejects when it was not (the ingest tries it again).
 */
export async function answerPresence(p: ForwardedPresence, hooks: Required<PresenceHooks>, conn: Pick<XmppConnection, 'send'>, logger: Logger): Promise<true> {
  if (p.type === 'offline') await hooks.offline(p.from);
  else if (p.type === 'unavailable') await hooks.unavailable(p.from);
  else {
    if (p.stanza === undefined) throw new AppError(ErrorCode.BadInput, 'forwarded available presence without its stanza');
    // RFC 6120 §8.3: a presence error tells the agent why its announcement was refused.
    const refuse = (text: string): void =>
      void conn.send(xml('presence', { to: p.from, type: 'error' }, stanzaError('modify', 'not-acceptable', text))).catch((err: unknown) =>
        logger.warn({ error: (err as Error).message }, 'presence refusal not sent'),
      );
    await hooks.available(p.from, parseXml(p.stanza), refuse, typeof p.id === 'string' ? p.id : undefined);
  }
  return true;
}

/**
 * Owner: the registry and listener of deviceAnnouncements, each write made only while `holds`
 * says this node holds the user's shard (its lease valid on its own clock), else AppError
 * (Unavailable). A write issued while the lease is valid lands before a next owner can take the
 * shard (the lease's local validity ends before Redis lets it go), as with the shard's fence.
 */
export function leaseGuard(deps: AnnouncementDeps, holds: (bareJid: string) => boolean): AnnouncementDeps {
  const check = (jid: string): void => {
    if (!holds(jid)) throw new AppError(ErrorCode.Unavailable, "presence not applied: this node no longer holds the user's shard");
  };
  const { registry, listener } = deps;
  return {
    ...deps,
    registry: {
      async available(jid, ...rest) {
        check(jid);
        return registry.available(jid, ...rest);
      },
      async unavailable(jid, resource) {
        check(jid);
        return registry.unavailable(jid, resource);
      },
      async offline(jid) {
        check(jid);
        return registry.offline(jid);
      },
      async advance(jid, ...rest) {
        check(jid);
        return registry.advance(jid, ...rest);
      },
    },
    listener: {
      async available(jid, device, moved) {
        check(jid);
        await listener.available(jid, device, moved);
      },
      unavailable(jid, device) {
        check(jid);
        listener.unavailable(jid, device);
      },
    },
  };
}
