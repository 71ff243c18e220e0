// sealpost's package entry: the agent SDK and the types a user of it needs.
export * from './agent/index.js';
export { AppError, ErrorCode } from './errors/index.js';
export type { KeyStoreSecret, Limits } from './keys/index.js';
export type { ArchiveKeyInfo, ArchiveKeyImport, PwhashLimits } from './keys/index.js';
