// Public surface of the agent SDK.
export { Agent, createAgent, type AgentOptions, type AgentEvents } from './agent.js';
export type { SendOptions, SendResult } from './sender.js';
export type { ContactDevice, FetchedBundle } from './directory-client.js';
export { addOwnAttestation, loadOwnAttestations, type AttestationView } from './attestations.js';
export type { ReceivedMessage, MessageHandler, DroppedMessage } from './receiver.js';
export type { ExpiredMessage } from './agent.js';
export type { HistoryEntry, HistoryFailure, HistoryMessage, HistoryOptions, DeleteHistory, RetentionPolicy } from './history.js';
export { ArchiveKeys } from './archive-keys.js';
export type { SendFileOptions, SendFileResult } from './files.js';
export { FILE_MANIFEST_TYPE, type IncomingFile, type SavedFile } from './files-manifest.js';
export type { TransferOptions } from './files-http.js';
export type { StanzaMiddleware } from './stanza-chain.js';
export type { ReceivedStanza, StanzaHandler } from './stanzas.js';
