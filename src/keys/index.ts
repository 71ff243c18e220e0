// Public surface of src/keys: identities, prekeys, bundles, the sp1 envelope, trust and key stores.
// Other folders import only this file.
export {
  initSodium,
  aeadSeal,
  aeadOpen,
  randomBytes,
  blake2b,
  wipe,
  constantTimeEqual,
  checkLength,
  AEAD_KEY_BYTES,
} from './sodium.js';
