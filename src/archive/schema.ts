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

/**
 * v2 (issue 14, attack 1 and 3): the recipient's quota per sender and its history copies. One
 * noisy sender may hold only a share of a recipient's pending quota, and a history copy (kept
 * after delivery) counts in a quota of its own; triggers keep both exact in the same transaction
 * as every store, receipt, expiry, purge and delete, so reading them is one row.
 * - quota_sender: per sender (incoming peer), its pending messages and bytes (payload and
 *   undelivered key blocks, as meta's pending_bytes) and its kept history copies (payload and
 *   archive block); a row at zero everywhere is dropped.
 * - meta kept_messages / kept_bytes: the history copies of every sender.
 * A message row is deleted before its delivery rows (ON DELETE CASCADE runs after the parent is
 * gone), so its whole pending share is taken off in the BEFORE DELETE trigger and the cascaded
 * delivery deletes, which no longer find their message's sender, change nothing.
 */
const USER_V2 = `
CREATE TABLE quota_sender (
  peer             TEXT    PRIMARY KEY,
  pending_messages INTEGER NOT NULL DEFAULT 0,
  pending_bytes    INTEGER NOT NULL DEFAULT 0,
  kept_messages    INTEGER NOT NULL DEFAULT 0,
  kept_bytes       INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

INSERT INTO quota_sender (peer, pending_messages, pending_bytes, kept_messages, kept_bytes)
SELECT peer,
       sum(pending_devices > 0),
       sum(CASE WHEN pending_devices > 0 THEN payload_bytes + (SELECT coalesce(sum(d.block_bytes), 0)
             FROM delivery d WHERE d.seq = m.seq AND d.delivered_at IS NULL) ELSE 0 END),
       sum(ak_block IS NOT NULL),
       sum(CASE WHEN ak_block IS NOT NULL THEN payload_bytes + length(ak_block) ELSE 0 END)
FROM message m WHERE direction = 'in' GROUP BY peer;
DELETE FROM quota_sender WHERE pending_messages = 0 AND pending_bytes = 0 AND kept_messages = 0 AND kept_bytes = 0;
INSERT INTO meta (k, v) SELECT 'kept_messages', count(*) FROM message WHERE direction = 'in' AND ak_block IS NOT NULL;
INSERT INTO meta (k, v) SELECT 'kept_bytes', coalesce(sum(payload_bytes + length(ak_block)), 0)
  FROM message WHERE direction = 'in' AND ak_block IS NOT NULL;

CREATE TRIGGER quota_message_added AFTER INSERT ON message WHEN NEW.direction = 'in'
BEGIN
  INSERT INTO quota_sender (peer) VALUES (NEW.peer) ON CONFLICT (peer) DO NOTHING;
  UPDATE quota_sender SET kept_messages = kept_messages + 1, kept_bytes = kept_bytes + NEW.payload_bytes + length(NEW.ak_block)
    WHERE NEW.ak_block IS NOT NULL AND peer = NEW.peer;
  UPDATE meta SET v = v + 1 WHERE NEW.ak_block IS NOT NULL AND k = 'kept_messages';
  UPDATE meta SET v = v + NEW.payload_bytes + length(NEW.ak_block) WHERE NEW.ak_block IS NOT NULL AND k = 'kept_bytes';
END;
CREATE TRIGGER quota_message_removed BEFORE DELETE ON message WHEN OLD.direction = 'in'
BEGIN
  UPDATE quota_sender SET pending_messages = pending_messages - 1,
    pending_bytes = pending_bytes - OLD.payload_bytes - (SELECT coalesce(sum(block_bytes), 0) FROM delivery
      WHERE seq = OLD.seq AND delivered_at IS NULL)
    WHERE OLD.pending_devices > 0 AND peer = OLD.peer;
  UPDATE quota_sender SET kept_messages = kept_messages - 1, kept_bytes = kept_bytes - OLD.payload_bytes - length(OLD.ak_block)
    WHERE OLD.ak_block IS NOT NULL AND peer = OLD.peer;
  UPDATE meta SET v = v - 1 WHERE OLD.ak_block IS NOT NULL AND k = 'kept_messages';
  UPDATE meta SET v = v - OLD.payload_bytes - length(OLD.ak_block) WHERE OLD.ak_block IS NOT NULL AND k = 'kept_bytes';
END;
CREATE TRIGGER quota_message_pending AFTER UPDATE OF pending_devices ON message
  WHEN NEW.direction = 'in' AND (OLD.pending_devices > 0) <> (NEW.pending_devices > 0)
BEGIN
  UPDATE quota_sender SET
    pending_messages = pending_messages + (CASE WHEN NEW.pending_devices > 0 THEN 1 ELSE -1 END),
    pending_bytes = pending_bytes + (CASE WHEN NEW.pending_devices > 0 THEN NEW.payload_bytes ELSE -OLD.payload_bytes END)
    WHERE peer = NEW.peer;
END;
CREATE TRIGGER quota_block_added AFTER INSERT ON delivery WHEN NEW.delivered_at IS NULL
BEGIN
  UPDATE quota_sender SET pending_bytes = pending_bytes + NEW.block_bytes
    WHERE peer = (SELECT peer FROM message WHERE seq = NEW.seq AND direction = 'in');
END;
CREATE TRIGGER quota_block_done AFTER UPDATE OF delivered_at ON delivery
  WHEN OLD.delivered_at IS NULL AND NEW.delivered_at IS NOT NULL
BEGIN
  UPDATE quota_sender SET pending_bytes = pending_bytes - OLD.block_bytes
    WHERE peer = (SELECT peer FROM message WHERE seq = OLD.seq AND direction = 'in');
END;
CREATE TRIGGER quota_block_removed AFTER DELETE ON delivery WHEN OLD.delivered_at IS NULL
BEGIN
  UPDATE quota_sender SET pending_bytes = pending_bytes - OLD.block_bytes
    WHERE peer = (SELECT peer FROM message WHERE seq = OLD.seq AND direction = 'in');
END;
CREATE TRIGGER quota_sender_empty AFTER UPDATE ON quota_sender
  WHEN NEW.pending_messages = 0 AND NEW.pending_bytes = 0 AND NEW.kept_messages = 0 AND NEW.kept_bytes = 0
BEGIN
  DELETE FROM quota_sender WHERE peer = NEW.peer;
END;
`;

export const USER_MIGRATIONS: readonly string[] = [USER_V1, USER_V2];

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
