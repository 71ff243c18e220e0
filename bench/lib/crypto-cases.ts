// The agent's crypto as the bench's sender and recipient run it, shared by `npm run bench:crypto`
// and the bounds of `npm run bench`: 1 KiB sealed to one device plus the recipient's and the
// sender's archive keys (design.md, "Sealing a message"), and the open of one delivered copy with
// trust and replay checks; plus the raw libsodium calls underneath, for comparison.
import {
  DEFAULT_ARCHIVE_SUITE,
  createAgentKeys,
  KeyRing,
  MemoryReplayStore,
  MemoryTrustStore,
  open,
  ownArchiveTarget,
  randomBytes,
  seal,
  type ArchiveSuite,
  type OpenedMessage,
  type SealedEnvelope,
} from '../../src/keys/index.js';
import { boxSeal, boxSealOpen, ed25519Sign, ed25519Verify, x25519KeyPair } from '../../src/keys/sodium.js';

export interface AgentCase {
  /** Seals a fresh 1 KiB message to one device + the recipient's AK + the sender's AK. */
  sealOne: () => SealedEnvelope;
  /** Opens one envelope as the recipient device (each envelope once: the replay store remembers). */
  openOne: (env: SealedEnvelope) => Promise<OpenedMessage>;
  /** Raw crypto_box_seal / seal_open of one key block's plaintext, and Ed25519 on a header-sized message. */
  boxSeal: () => Uint8Array;
  boxSealOpen: () => Uint8Array | undefined;
  sign: () => Uint8Array;
  verify: () => boolean;
}

/**
 * Fresh keys for a sender and a recipient (in the selected backend; call after initSodium), whose
 * archive keys are of `archiveSuite` (default: what new keys get, X-Wing).
 */
export function agentCase(payloadBytes = 1024, archiveSuite: ArchiveSuite = DEFAULT_ARCHIVE_SUITE): AgentCase {
  const now = Date.now();
  const alice = createAgentKeys({ jid: 'alice@example.org', now, oneTimePrekeys: 0, archiveKey: true, archiveSuite });
  const bob = createAgentKeys({ jid: 'bob@example.org', now, oneTimePrekeys: 0, archiveKey: true, archiveSuite });
  const spk = bob.signedPrekeys[0];
  const ak = ownArchiveTarget(bob);
  const own = ownArchiveTarget(alice);
  if (spk === undefined || ak === undefined || own === undefined) throw new Error('bench: keys without a prekey or archive key');
  const plaintext = randomBytes(payloadBytes);
  const sealOne = (): SealedEnvelope =>
    seal({
      from: alice.identity,
      to: 'bob@example.org',
      devices: [{ device: bob.identity.device, prekeyId: spk.id, publicKey: spk.publicKey }],
      recipientArchive: ak,
      senderArchive: own,
      plaintext,
      contentType: 'application/octet-stream',
      now: () => now,
    });
  const ctx = { me: { jid: 'bob@example.org', device: bob.identity.device }, prekeys: new KeyRing(bob), trust: new MemoryTrustStore(), replay: new MemoryReplayStore(), now: () => now };
  const block = randomBytes((sealOne().blocks[0]?.box.length ?? 48) - 48);
  const kp = x25519KeyPair();
  const box = boxSeal(block, kp.publicKey);
  const header = randomBytes(200);
  const sig = ed25519Sign(header, alice.identity.secretKey);
  return {
    sealOne,
    openOne: (env) => open(env, ctx),
    boxSeal: () => boxSeal(block, kp.publicKey),
    boxSealOpen: () => boxSealOpen(box, kp.publicKey, kp.secretKey),
    sign: () => ed25519Sign(header, alice.identity.secretKey),
    verify: () => ed25519Verify(sig, header, alice.identity.publicKey),
  };
}
