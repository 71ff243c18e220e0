// The key directory's storage (design.md "Parts": the directory, atomic claim): one encrypted
// SQLite file with each (jid, device)'s published bundle and its one-time prekeys. A claim
// deletes and returns at most one OPK per device inside one immediate transaction, so no OPK is
// ever handed out twice, even to claimers in other processes sharing the file.
import { AppError, ErrorCode } from '../errors/index.js';
import {
  archiveSuiteOfStoredKey,
  countersign,
  createServerKey,
  fromBase64,
  toBase64,
  type Attestation,
  type Bundle,
  type KeyPair,
  type VerifiedBundle,
} from '../keys/index.js';
import { DEFAULT_BUSY_TIMEOUT_MS, mapSqliteError, migrate, openEncryptedDb, type Db, type DbCipher } from '../sqlite/index.js';

const MIGRATIONS = [
  `CREATE TABLE meta (name TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
   CREATE TABLE devices (
     jid TEXT NOT NULL, device INTEGER NOT NULL, ik BLOB NOT NULL,
     spk_id INTEGER NOT NULL, spk_pub BLOB NOT NULL, spk_sig BLOB NOT NULL, spk_expires INTEGER NOT NULL,
     ak_id INTEGER, ak_pub BLOB, ak_sig BLOB,
     first_seen INTEGER NOT NULL, updated_at INTEGER NOT NULL, countersig BLOB NOT NULL,
     low_notified INTEGER NOT NULL DEFAULT 0,
     PRIMARY KEY (jid, device)) WITHOUT ROWID;
   CREATE TABLE opks (
     jid TEXT NOT NULL, device INTEGER NOT NULL, id INTEGER NOT NULL, pub BLOB NOT NULL, sig BLOB NOT NULL,
     PRIMARY KEY (jid, device, id),
     FOREIGN KEY (jid, device) REFERENCES devices (jid, device) ON DELETE CASCADE);`,
  // Attestations (issue 18, part 2): opaque to the directory, replaced with each publish.
  `CREATE TABLE attestations (
     jid TEXT NOT NULL, device INTEGER NOT NULL, body TEXT NOT NULL,
     PRIMARY KEY (jid, device),
     FOREIGN KEY (jid, device) REFERENCES devices (jid, device) ON DELETE CASCADE) WITHOUT ROWID;`,
];

export interface PublishResult {
  firstSeen: number;
  countersig: Uint8Array;
  /** True when this (jid, device) had a different identity key before. */
  identityChanged: boolean;
  /** Ids of the previous one-time prekeys nobody claimed: the owner may erase their secrets. */
  dropped: number[];
}

/** A device's bundle as a fetch hands it out: at most one one-time prekey. */
export interface ClaimedDevice {
  bundle: Bundle;
  firstSeen: number;
  countersig: Uint8Array;
  /** One-time prekeys left for that device after this claim. */
  remaining: number;
  /** True when `remaining` fell below the low-water mark and the owner has not been told yet. */
  needsNotice: boolean;
  /** What the owner published to vouch for its key (checked by the agents, not here). */
  attestations: Attestation[];
}

/** A published device without its prekeys (nothing claimed): for listing a contact's devices. */
export interface PublishedDevice {
  device: number;
  identityKey: Uint8Array;
  firstSeen: number;
  countersig: Uint8Array;
  attestations: Attestation[];
}

export interface DirectoryStore {
  readonly serverPublicKey: Uint8Array;
  /**
   * Stores a device's bundle. A device new to an account that already has `maxDevices` is refused
   * (policy): 600 devices made one fetch answer larger than the XMPP server's stanza limit, which
   * closed the vault's stream (issue 14). Its attestations replace the device's earlier ones (none: cleared).
   */
  publish(bundle: VerifiedBundle, now: number, maxDevices: number, attestations?: readonly Attestation[]): PublishResult;
  /**
   * Claims for the `maxDevices` most recently published devices of `jid` (empty when it has none).
   * With `takeOpk` false nothing is claimed: the bundles carry the signed prekey only.
   */
  claim(jid: string, lowWater: number, maxDevices: number, takeOpk?: boolean): ClaimedDevice[];
  /** The `maxDevices` most recently published devices of `jid`, nothing claimed. */
  published(jid: string, maxDevices: number): PublishedDevice[];
  count(jid: string, device: number): number | undefined;
  devices(jid: string): number[];
  /** True when a device of `jid` published an archive key (history copies go only to one). */
  hasArchiveKey(jid: string): boolean;
  /** The published identity key of (jid, device), e.g. to check a signed presence announcement. */
  identityKey(jid: string, device: number): Uint8Array | undefined;
  remove(jid: string, device: number): boolean;
  /**
   * Retention (issue 7): erases devices whose signed prekey expired before `before`, with their
   * one-time prekeys. Nobody can seal to such a device any more (a fetch refuses a bundle with an
   * expired signed prekey), and its owner erased the secret too. At most `limit` per call.
   */
  eraseExpired(before: number, limit: number): { jid: string; device: number }[];
  close(): void;
}

interface DeviceRow {
  jid: string;
  device: number;
  ik: Uint8Array;
  spk_id: number;
  spk_pub: Uint8Array;
  spk_sig: Uint8Array;
  spk_expires: number;
  ak_id: number | null;
  ak_pub: Uint8Array | null;
  ak_sig: Uint8Array | null;
  first_seen: number;
  countersig: Uint8Array;
  low_notified: number;
}

const u8 = (b: Uint8Array): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

function rowToBundle(row: DeviceRow, opk?: { id: number; pub: Uint8Array; sig: Uint8Array }): Bundle {
  const bundle: Bundle = {
    suite: 'sp1',
    jid: row.jid,
    device: row.device,
    identityKey: u8(row.ik),
    signedPrekey: { id: row.spk_id, publicKey: u8(row.spk_pub), signature: u8(row.spk_sig), expires: row.spk_expires },
    oneTimePrekeys: opk === undefined ? [] : [{ id: opk.id, publicKey: u8(opk.pub), signature: u8(opk.sig) }],
  };
  if (row.ak_id === null || row.ak_pub === null || row.ak_sig === null) return bundle;
  // The suite is not a column: the stored key was verified on upload and its size names it.
  const suite = archiveSuiteOfStoredKey(row.ak_pub);
  const ak = { id: row.ak_id, publicKey: u8(row.ak_pub), signature: u8(row.ak_sig) };
  return { ...bundle, archiveKey: suite === 'sp1' ? ak : { ...ak, suite } };
}

/** Attestations as stored: JSON with base64 certificates (already checked on publish). */
function attestationsToText(items: readonly Attestation[]): string {
  return JSON.stringify(items.map((a) => (a.kind === 'x509' ? { kind: a.kind, chain: a.chain.map(toBase64) } : a)));
}

function attestationsFromText(text: string | undefined): Attestation[] {
  if (text === undefined) return [];
  return (JSON.parse(text) as ({ kind: 'x509'; chain: string[] } | Attestation)[]).map((a) =>
    a.kind === 'x509' ? { kind: 'x509', chain: (a.chain as string[]).map((c) => fromBase64('stored certificate', c, 1, 64 * 1024)) } : a,
  );
}

function loadServerKey(db: Db): { publicKey: Uint8Array; secretKey: Uint8Array } {
  const get = db.prepare<[string], { value: Uint8Array }>('SELECT value FROM meta WHERE name = ?');
  const pub = get.get('server_pk')?.value;
  const sec = get.get('server_sk')?.value;
  if (pub !== undefined && sec !== undefined) return { publicKey: u8(pub), secretKey: u8(sec) };
  const kp = createServerKey();
  const put = db.prepare('INSERT INTO meta (name, value) VALUES (?, ?)');
  db.transaction(() => {
    put.run('server_pk', Buffer.from(kp.publicKey));
    put.run('server_sk', Buffer.from(kp.secretKey));
  }).immediate();
  return kp;
}

export interface DirectoryStoreOptions {
  path: string;
  /** 32-byte at-rest key for the directory file. */
  key: Uint8Array;
  cipher: DbCipher;
  /**
   * The server key to countersign with, instead of the one kept in the file: sharded directories
   * (issue 15) use one derived from the master key, so every shard and node vouches with one key.
   */
  serverKey?: KeyPair;
  /** Lock wait while opening and migrating (ms; default the usual 5 s, kept for later writes): 0 fails at once (AppError Unavailable). */
  openBusyTimeoutMs?: number;
}

export function openDirectoryStore(options: DirectoryStoreOptions): DirectoryStore {
  const opening = options.openBusyTimeoutMs;
  const db = openEncryptedDb({ path: options.path, key: options.key, cipher: options.cipher, ...(opening === undefined ? {} : { busyTimeoutMs: opening }) });
  let server: KeyPair;
  try {
    migrate(db, MIGRATIONS);
    server = options.serverKey ?? loadServerKey(db);
    if (opening !== undefined) db.pragma(`busy_timeout = ${DEFAULT_BUSY_TIMEOUT_MS}`);
  } catch (err) {
    db.close();
    throw mapSqliteError(err, 'directory open');
  }

  const getDevice = db.prepare<[string, number], DeviceRow>('SELECT * FROM devices WHERE jid = ? AND device = ?');
  const listDevices = db.prepare<[string], DeviceRow>('SELECT * FROM devices WHERE jid = ? ORDER BY device');
  const latestDevices = db.prepare<[string, number], DeviceRow>(
    'SELECT * FROM devices WHERE jid = ? ORDER BY updated_at DESC, device LIMIT ?',
  );
  const anyArchiveKey = db.prepare<[string], number>('SELECT 1 FROM devices WHERE jid = ? AND ak_id IS NOT NULL LIMIT 1').pluck();
  const countDevices = db.prepare<[string], number>('SELECT count(*) FROM devices WHERE jid = ?').pluck();
  const upsertDevice = db.prepare(`INSERT INTO devices
      (jid, device, ik, spk_id, spk_pub, spk_sig, spk_expires, ak_id, ak_pub, ak_sig, first_seen, updated_at, countersig, low_notified)
      VALUES (@jid, @device, @ik, @spk_id, @spk_pub, @spk_sig, @spk_expires, @ak_id, @ak_pub, @ak_sig, @first_seen, @updated_at, @countersig, 0)
      ON CONFLICT (jid, device) DO UPDATE SET ik = excluded.ik, spk_id = excluded.spk_id, spk_pub = excluded.spk_pub,
        spk_sig = excluded.spk_sig, spk_expires = excluded.spk_expires, ak_id = excluded.ak_id, ak_pub = excluded.ak_pub,
        ak_sig = excluded.ak_sig, first_seen = excluded.first_seen, updated_at = excluded.updated_at,
        countersig = excluded.countersig, low_notified = 0`);
  const deleteOpks = db
    .prepare<[string, number], number>('DELETE FROM opks WHERE jid = ? AND device = ? RETURNING id')
    .pluck();
  const insertOpk = db.prepare<[string, number, number, Buffer, Buffer]>(
    'INSERT INTO opks (jid, device, id, pub, sig) VALUES (?, ?, ?, ?, ?)',
  );
  const claimOpk = db.prepare<[string, number], { id: number; pub: Uint8Array; sig: Uint8Array }>(
    `DELETE FROM opks WHERE rowid = (SELECT rowid FROM opks WHERE jid = ? AND device = ? ORDER BY id LIMIT 1)
     RETURNING id, pub, sig`,
  );
  const countOpks = db.prepare<[string, number], number>('SELECT count(*) FROM opks WHERE jid = ? AND device = ?').pluck();
  const setNotified = db.prepare<[string, number]>('UPDATE devices SET low_notified = 1 WHERE jid = ? AND device = ?');
  const getAttestations = db.prepare<[string, number], string>('SELECT body FROM attestations WHERE jid = ? AND device = ?').pluck();
  const deleteAttestations = db.prepare<[string, number]>('DELETE FROM attestations WHERE jid = ? AND device = ?');
  const insertAttestations = db.prepare<[string, number, string]>('INSERT INTO attestations (jid, device, body) VALUES (?, ?, ?)');
  const deleteDevice = db.prepare<[string, number]>('DELETE FROM devices WHERE jid = ? AND device = ?');
  const deleteExpired = db.prepare<[number, number], { jid: string; device: number }>(
    `DELETE FROM devices WHERE (jid, device) IN
       (SELECT jid, device FROM devices WHERE spk_expires < ? ORDER BY spk_expires LIMIT ?)
     RETURNING jid, device`,
  );

  const publishTx = db.transaction((b: VerifiedBundle, now: number, maxDevices: number, attestations: readonly Attestation[]): PublishResult => {
    const previous = getDevice.get(b.jid, b.device);
    if (previous === undefined && (countDevices.get(b.jid) ?? 0) >= maxDevices)
      throw new AppError(ErrorCode.Policy, `at most ${maxDevices} devices per account; remove one before publishing another`);
    const sameIdentity = previous !== undefined && Buffer.from(previous.ik).equals(Buffer.from(b.identityKey));
    const firstSeen = sameIdentity ? previous.first_seen : now;
    const countersig =
      sameIdentity ? u8(previous.countersig) : countersign({ jid: b.jid, device: b.device, identityKey: b.identityKey, firstSeen }, server.secretKey);
    upsertDevice.run({
      jid: b.jid,
      device: b.device,
      ik: Buffer.from(b.identityKey),
      spk_id: b.signedPrekey.id,
      spk_pub: Buffer.from(b.signedPrekey.publicKey),
      spk_sig: Buffer.from(b.signedPrekey.signature),
      spk_expires: b.signedPrekey.expires,
      ak_id: b.archiveKey?.id ?? null,
      ak_pub: b.archiveKey === undefined ? null : Buffer.from(b.archiveKey.publicKey),
      ak_sig: b.archiveKey === undefined ? null : Buffer.from(b.archiveKey.signature),
      first_seen: firstSeen,
      updated_at: now,
      countersig: Buffer.from(countersig),
    });
    const dropped = deleteOpks.all(b.jid, b.device).sort((x, y) => x - y);
    for (const p of b.oneTimePrekeys) insertOpk.run(b.jid, b.device, p.id, Buffer.from(p.publicKey), Buffer.from(p.signature));
    deleteAttestations.run(b.jid, b.device);
    if (attestations.length > 0) insertAttestations.run(b.jid, b.device, attestationsToText(attestations));
    return { firstSeen, countersig, identityChanged: previous !== undefined && !sameIdentity, dropped };
  });

  const claimTx = db.transaction((jid: string, lowWater: number, maxDevices: number, takeOpk: boolean): ClaimedDevice[] =>
    latestDevices.all(jid, maxDevices).map((row) => {
      const opk = takeOpk ? claimOpk.get(row.jid, row.device) : undefined;
      const remaining = countOpks.get(row.jid, row.device) ?? 0;
      const needsNotice = remaining < lowWater && row.low_notified === 0;
      if (needsNotice) setNotified.run(row.jid, row.device);
      const attestations = attestationsFromText(getAttestations.get(row.jid, row.device));
      return { bundle: rowToBundle(row, opk), firstSeen: row.first_seen, countersig: u8(row.countersig), remaining, needsNotice, attestations };
    }),
  );

  return {
    serverPublicKey: server.publicKey,
    publish: (bundle, now, maxDevices, attestations = []) => publishTx.immediate(bundle, now, maxDevices, attestations),
    published: (jid, maxDevices) =>
      latestDevices.all(jid, maxDevices).map((row) => ({
        device: row.device,
        identityKey: u8(row.ik),
        firstSeen: row.first_seen,
        countersig: u8(row.countersig),
        attestations: attestationsFromText(getAttestations.get(row.jid, row.device)),
      })),
    claim: (jid, lowWater, maxDevices, takeOpk = true) => claimTx.immediate(jid, lowWater, maxDevices, takeOpk),
    count: (jid, device) => (getDevice.get(jid, device) === undefined ? undefined : (countOpks.get(jid, device) ?? 0)),
    devices: (jid) => listDevices.all(jid).map((r) => r.device),
    hasArchiveKey: (jid) => anyArchiveKey.get(jid) !== undefined,
    identityKey: (jid, device) => {
      const row = getDevice.get(jid, device);
      return row === undefined ? undefined : u8(row.ik);
    },
    remove: (jid, device) => deleteDevice.run(jid, device).changes > 0,
    eraseExpired: (before, limit) => db.transaction(() => deleteExpired.all(before, limit)).immediate(),
    close: () => db.close(),
  };
}
