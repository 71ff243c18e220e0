// The vault's notices to an agent, as stanza middleware: a replenish notice (design.md "Keys":
// the directory tells the owner when fewer than 25 one-time prekeys remain) makes this device
// publish fresh ones; an expiry notice (a message we sent expired undelivered) becomes an event.
import type { Logger } from '../log/index.js';
import { NS, parseExpiryNotice, uintAttr, type ExpiryReason } from '../protocol/index.js';
import { fromVault, type StanzaMiddleware } from './stanza-chain.js';

/** A sent message that expired at the vault before every device of the recipient took it. */
export interface ExpiredMessage {
  messageId: string;
  recipient: string;
  reason: ExpiryReason;
  /** The recipient's devices that never acknowledged it. */
  devices: readonly number[];
}

export interface ReplenishDeps {
  vault: string;
  device: number;
  publish: () => Promise<void>;
  replenished: (remaining: number) => void;
  logger: Logger;
}

/** Publishes fresh one-time prekeys when the vault says this device is running low. */
export function replenishNotices(d: ReplenishDeps): StanzaMiddleware {
  return (stanza, next) => {
    const notice = stanza.is('message') ? stanza.getChild('replenish', NS.keys) : undefined;
    if (notice === undefined || !fromVault(stanza, d.vault)) return next();
    if (uintAttr(notice, 'device', 'replenish') !== d.device) return;
    d.publish()
      .then(() => d.replenished(uintAttr(notice, 'remaining', 'replenish')))
      .catch((err: unknown) => d.logger.warn({ error: (err as Error).message }, 'replenish failed'));
  };
}

/** Reports the vault's notice that a message we sent expired undelivered (issue 7, retention). */
export function expiryNotices(vault: string, expired: (notice: ExpiredMessage) => void): StanzaMiddleware {
  return (stanza, next) => {
    const notice = fromVault(stanza, vault) ? parseExpiryNotice(stanza) : undefined;
    if (notice === undefined) return next();
    expired(notice);
  };
}
