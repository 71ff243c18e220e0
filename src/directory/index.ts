// Public surface of src/directory: the key directory's store and its XMPP service.
export { openDirectoryStore, type DirectoryStore, type DirectoryStoreOptions, type ClaimedDevice, type PublishedDevice, type PublishResult } from './store.js';
export { registerDirectory, type DirectoryServiceDeps, type DirectoryLimits } from './service.js';
