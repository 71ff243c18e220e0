// Public surface of src/keys: identities, prekeys, bundles, the sp1 envelope, trust and key stores.
// Other folders import only this file.
export {
  initSodium,
  loadWasm,
  type InitOptions,
  cryptoBackend,
  type CryptoChoice,
  type BackendName,
  aeadSeal,
  aeadOpen,
  randomBytes,
  blake2b,
  wipe,
  constantTimeEqual,
  checkLength,
  ed25519KeyPairFromSeed,
  AEAD_KEY_BYTES,
  pwhashModerate,
  pwhashMinimum,
  type KeyPair,
  type PwhashLimits,
} from './sodium.js';
export {
  streamKey,
  streamPush,
  streamPull,
  STREAM_ABYTES,
  STREAM_HEADER_BYTES,
  STREAM_KEY_BYTES,
  type StreamPuller,
  type StreamPusher,
} from './secretstream.js';
export { SUITE, LABEL, DEFAULT_LIMITS, PAYLOAD_OVERHEAD, checkSuite, resolveLimits, type Suite, type Limits } from './labels.js';
export { toBase64, fromBase64 } from './encoding.js';
export { atomicWriteFile } from './fsutil.js';
export {
  createDeviceIdentity,
  newDeviceId,
  fingerprint,
  formatFingerprint,
  displayFingerprint,
  parseFingerprint,
  type DeviceIdentity,
} from './identity.js';
export {
  verifySignedPrekey,
  verifyOneTimePrekey,
  verifyArchiveKey,
  type SignedPrekey,
  type OneTimePrekey,
  type ArchiveKey,
  type SecretPrekey,
} from './prekeys.js';
export {
  bundleToWire,
  bundleFromWire,
  verifyBundle,
  decodeBundle,
  type Bundle,
  type VerifiedBundle,
  type BundleWire,
  type PrekeyWire,
  type BundleOptions,
  type VerifyBundleOptions,
} from './bundle.js';
export {
  envelopeToWire,
  envelopeFromWire,
  archiveCopyFromWire,
  checkEnvelopeShape,
  checkEnvelopeWire,
  newMessageId,
  MIN_KEY_BLOCK_BYTES,
  MAX_KEY_BLOCK_BYTES,
  type SealedEnvelope,
  type KeyBlock,
  type KeyBlockTarget,
  type ArchiveOwner,
  type EnvelopeWire,
  type KeyBlockWire,
  type EnvelopeShape,
  type ShapeOptions,
  type StoredMessageHead,
} from './envelope.js';
export type { MessageHeader } from './header.js';
export { seal, targetsFromBundles, type SealInput, type DeviceTarget, type ArchiveTarget, type SealTargets } from './seal.js';
export { open, openWire, DEFAULT_WINDOW, type OpenContext, type OpenedMessage, type OpenAs, type TimeWindow } from './open.js';
export { KeyRing, type PrekeyStore, type DevicePrekey, type ArchiveSecret } from './keyring.js';
export {
  createAgentKeys,
  addOneTimePrekeys,
  consumeOneTimePrekey,
  markClaimedOpks,
  expireClaimedOpks,
  setArchiveKey,
  currentSignedPrekey,
  publicBundle,
  ownArchiveTarget,
  wipeAgentKeys,
  DEFAULT_SPK_PERIOD_MS,
  type AgentKeyState,
  type SpkRecord,
  type OpkRecord,
  type CreateOptions,
} from './state.js';
export { rotateSignedPrekey, maintainSignedPrekeys, DEFAULT_ROTATION, type RotationPolicy, type MaintainResult } from './rotation.js';
export { MemoryTrustStore, checkTrust, type TrustStore, type TrustRecord, type TrustLevel, type TrustDecision, type NewDevicePolicy } from './trust.js';
export { FileTrustStore } from './trust-file.js';
export { MemoryReplayStore, type ReplayStore, type SeenEntry } from './replay.js';
export {
  countersign,
  countersignedBytes,
  verifyCountersign,
  createServerKey,
  COUNTERSIGN_LABEL,
  type Countersigned,
} from './countersign.js';
export { KeyStoreFile, type KeyStoreSecret } from './keystore.js';
export { AgentKeyFile } from './agent-file.js';
export { encodeAgentSecrets, decodeAgentSecrets, type AgentSecrets } from './state-codec.js';
export {
  announcementBytes,
  announcementFromWire,
  signAnnouncement,
  verifyAnnouncement,
  ANNOUNCE_LABEL,
  ANNOUNCE_MAX_SKEW_MS,
  type Announcement,
  type AnnouncementWire,
  type AnnouncementCheck,
  type VerifyAnnouncementInput,
} from './announce.js';
export {
  archiveKeyList,
  createArchiveKey,
  rotateArchiveKey,
  forgetArchiveKey,
  exportArchiveKeys,
  importArchiveKeys,
  type ArchiveKeyInfo,
  type ImportResult as ArchiveKeyImport,
} from './archive-keys.js';
export {
  ATTESTATION_LIMITS,
  certificateJids,
  certificatesFromPem,
  checkAttestations,
  checkAttestationShape,
  trustedCasFromPem,
  verifyX509Attestation,
  type Attestation,
  type AttestationResult,
  type OpaqueAttestation,
  type X509Attestation,
  type X509CheckOptions,
} from './attestation.js';
export {
  archiveSuiteOfStoredKey,
  checkArchiveSuite,
  DEFAULT_ARCHIVE_SUITE,
  XWING_SUITE,
  XWING_EXTRA_BYTES,
  type ArchiveSuite,
} from './archive-suite.js';
