// Schema migrations (PRAGMA user_version) for one user's archive and for the keyring. Shaped for
// issue 5 (idempotent store), 6 (per-device delivery state, in order) and 7 (MAM history, retention).
// Append new versions; never edit a released one.

/**
 * v1 of a user's archive.
 * - message: one row per sealed message, unique on (direction, peer, message id): for an incoming
 *   item the peer is the sender, so this is invariant 2's (sender bare JID, message id). The payload
 *   is stored once; `ak_block` is the history copy (NULL = none); `seq` is the arrival order.
 *   `payload` becomes NULL (a small tombstone that keeps dedupe) once nothing needs it.
 * - delivery: one pending/delivered transit copy per (message, recipient device), with its key block.
 * - meta: owner JID, retention policy, pending counters kept exact by triggers.
 */
const USER_V1 = `
CREATE TABLE meta (k TEXT PRIMARY KEY, v) WITHOUT ROWID;
INSERT INTO meta (k, v) VALUES ('pending_messages', 0), ('pending_bytes', 0);

CREATE TABLE message (
  seq             INTEGER PRIMARY KEY AUTOINCREMENT,
  archive_id      TEXT    NOT NULL UNIQUE,
  direction       TEXT    NOT NULL CHECK (direction IN ('in', 'out')),
  peer            TEXT    NOT NULL,
  sender_device   INTEGER NOT NULL,
  message_id      TEXT    NOT NULL,
  suite           TEXT    NOT NULL,
  received_at     INTEGER NOT NULL,
  payload         BLOB,
  payload_bytes   INTEGER NOT NULL,
  ak_id           INTEGER,
  ak_block        BLOB,
  pending_devices INTEGER NOT NULL DEFAULT 0,
  UNIQUE (direction, peer, message_id)
);
CREATE INDEX message_peer ON message (peer, seq);
CREATE INDEX message_time ON message (received_at, seq);
CREATE INDEX message_transit ON message (received_at, seq) WHERE pending_devices > 0 OR payload IS NULL;

CREATE TABLE delivery (
  seq             INTEGER NOT NULL REFERENCES message (seq) ON DELETE CASCADE,
  device_id       INTEGER NOT NULL,
  prekey_id       INTEGER NOT NULL,
  key_block       BLOB,
  block_bytes     INTEGER NOT NULL,
  delivered_at    INTEGER,
  attempts        INTEGER NOT NULL DEFAULT 0,
  last_attempt_at INTEGER,
  PRIMARY KEY (seq, device_id)
) WITHOUT ROWID;
CREATE INDEX delivery_pending ON delivery (device_id, seq) WHERE delivered_at IS NULL;

CREATE TRIGGER delivery_pending_added AFTER INSERT ON delivery WHEN NEW.delivered_at IS NULL
BEGIN
  UPDATE meta SET v = v + NEW.block_bytes WHERE k = 'pending_bytes';
  UPDATE message SET pending_devices = pending_devices + 1 WHERE seq = NEW.seq;
END;
CREATE TRIGGER delivery_pending_done AFTER UPDATE OF delivered_at ON delivery
  WHEN OLD.delivered_at IS NULL AND NEW.delivered_at IS NOT NULL
BEGIN
  UPDATE meta SET v = v - OLD.block_bytes WHERE k = 'pending_bytes';
  UPDATE message SET pending_devices = pending_devices - 1 WHERE seq = OLD.seq;
END;
CREATE TRIGGER delivery_pending_removed AFTER DELETE ON delivery WHEN OLD.delivered_at IS NULL
BEGIN
  UPDATE meta SET v = v - OLD.block_bytes WHERE k = 'pending_bytes';
  UPDATE message SET pending_devices = pending_devices - 1 WHERE seq = OLD.seq;
END;
CREATE TRIGGER message_became_pending AFTER UPDATE OF pending_devices ON message
  WHEN OLD.pending_devices = 0 AND NEW.pending_devices > 0
BEGIN
  UPDATE meta SET v = v + 1 WHERE k = 'pending_messages';
  UPDATE meta SET v = v + NEW.payload_bytes WHERE k = 'pending_bytes';
END;
CREATE TRIGGER message_left_pending AFTER UPDATE OF pending_devices ON message
  WHEN OLD.pending_devices > 0 AND NEW.pending_devices = 0
BEGIN
  UPDATE meta SET v = v - 1 WHERE k = 'pending_messages';
  UPDATE meta SET v = v - OLD.payload_bytes WHERE k = 'pending_bytes';
END;
CREATE TRIGGER message_removed_pending AFTER DELETE ON message WHEN OLD.pending_devices > 0
BEGIN
  UPDATE meta SET v = v - 1 WHERE k = 'pending_messages';
  UPDATE meta SET v = v - OLD.payload_bytes WHERE k = 'pending_bytes';
END;
`;

export const USER_MIGRATIONS: readonly string[] = [USER_V1];

/** v1 of keyring.db: one wrapped per-user key per keyed hash; the JID for retention sweeps. */
const KEYRING_V1 = `
CREATE TABLE user_key (
  user_hash   TEXT    PRIMARY KEY,
  jid         TEXT    NOT NULL,
  wrapped_key BLOB    NOT NULL,
  created_at  INTEGER NOT NULL
) WITHOUT ROWID;
`;

export const KEYRING_MIGRATIONS: readonly string[] = [KEYRING_V1];
