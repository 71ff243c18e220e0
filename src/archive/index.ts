// Public surface of src/archive: the per-user encrypted archive (design.md "Storage", issues 5–7).
// Other folders import only this file. The server stores sealed bytes; nothing here decrypts them.
export { createArchiveStore, ArchiveStore, type ArchiveStoreOptions, type ShredResult } from './store.js';
export { BlobStore, isSlotId, isUserHash, type BlobMeta } from './blobs.js';
export { deriveArchiveSubkeys, loadMasterKey, MASTER_KEY_BYTES, type MasterKeySource } from './master-key.js';
export { normaliseBareJid } from './jid.js';
export type { UserRef } from './user-keys.js';
export {
  DEFAULT_LIMITS,
  type ArchiveBlock,
  type ArchiveLimits,
  type IncomingItem,
  type KeyBlock,
  type OutgoingItem,
  type StoreResult,
} from './types.js';
export type { DeliveryResult, DeviceState, PendingCounts, PendingItem } from './transit.js';
export { NO_USAGE, type QuotaUsage, type Usage } from './usage.js';
export type { DeleteSelector, HistoryItem, HistoryPage, HistoryQuery } from './history.js';
export { COUNT_CAP, MAX_INDEX } from './history.js';
export type { ExpiredRef, ExpireResult, PurgeResult } from './retention.js';
export { DB_CIPHERS as ARCHIVE_CIPHERS, type DbCipher as ArchiveCipher } from '../sqlite/index.js';
