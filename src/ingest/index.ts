// Public surface of src/ingest: the vault's XMPP front door (submissions, disco).
export { handleSubmission, isSubmission, type SubmitDeps, type IngestLimits, type DeviceLookup } from './submit.js';
export { registerDisco, VAULT_FEATURES, type DiscoExtension, type DiscoOptions } from './disco.js';
export { registerSubmissions, senderKey, type SubmissionsOptions } from './submissions.js';
export { isForwardedReceipts, recordReceipts, registerReceipts, type ForwardedReceipts, type ReceiptRoute, type ReceiptSink, type ReceiptsOptions } from './receipts.js';
export { registerInitialPresence } from './initial-presence.js';
export {
  registerPresence,
  deviceAnnouncements,
  type PresenceHooks,
  type PresenceOptions,
  type AnnouncementDeps,
  type DeviceKeyLookup,
  type DeviceRegistry,
  type DeviceListener,
} from './presence.js';
export { servedOnly } from './domains.js';
export { registerMam, historyWire, MAX_MAM_PAGE, MAX_MAM_PAGE_BYTES, type MamDeps } from './mam.js';
export { parseMamQuery, MAM_FIELDS, type MamLimits, type MamQuery } from './mam-query.js';
export { keyedSerializer, type Serializer } from './serial.js';
export { iqOwner, registerForwarding, ROUTED_IQS, type ForwardingDeps, type IqOwner, type RoutedAnswer, type RoutedIq } from './routing.js';
export { answerPresence, forwardPresence, isForwardedPresence, leaseGuard, type ForwardedPresence } from './presence-forward.js';
