// The XML wire forms of sealpost's XMPP surfaces (design.md "XMPP surfaces"), shared by the vault
// (ingest, workers, directory) and the agent SDK: the one way in from outside this folder.
export {
  expiryNoticeStanza,
  finElement,
  formatStamp,
  MAM_EXTENDED,
  mamResultStanza,
  NS_ARCHIVE,
  NS_HINTS,
  parseExpiryNotice,
  parseFin,
  parseMamResult,
  parseStamp,
  type ExpiryNotice,
  type ExpiryReason,
  type Fin,
  type MamResultItem,
  type ParsedResult,
} from './archive.js';
export {
  batchCapability,
  deliveriesFromStanza,
  deliveryBatchStanza,
  deliveryReceipts,
  MAX_BATCH_ITEMS,
  parseDeliveryReceipts,
  storedIds,
  storedReceiptsStanza,
  withBatchCapability,
  type DeliveredCopy,
} from './batches.js';
export {
  announcementFromPresence,
  announcementToXml,
  deliveryFromStanza,
  deliveryReceipt,
  deliveryStanza,
  deliveryStanzaId,
  parseDeliveryReceipt,
  parseDeliveryStanzaId,
  type DeliveryItem,
  type DeliveryReceipt,
} from './delivery.js';
export { answerIq } from './iq.js';
export { NS, noPermanentStore } from './namespaces.js';
export { receiptStanza, refusalStanza } from './replies.js';
export { fromStanzaError, toStanzaError, type StanzaErrorSpec } from './stanza-errors.js';
export { NEUTRAL_FILENAME, parseSlot, parseSlotRequest, slotRequestXml, slotXml, uploadDiscoForm, type Slot, type SlotRequest } from './upload.js';
export { DEFAULT_MAX_STANZA_BYTES, itemWireBytes, maxItemBytes, stanzaBytes, WRAP_HEADROOM_BYTES } from './stanza-size.js';
export { bundleFromXml, bundleToXml, envelopeFromXml, envelopeToXml, strAttr, uintAttr } from './xml-codec.js';
export {
  checkStanzaClaims,
  decodeProtectedStanza,
  encodeProtectedStanza,
  PROTECTED_STANZA_LIMITS,
  PROTECTED_STANZA_TYPE,
} from './protected-stanza.js';
export { attestationsFromXml, attestationToXml } from './attestation-xml.js';
export { batchStanzaId, parseSubmissionReply, submissionStanza, type SubmissionReply } from './submission.js';
