// XEP-0363 slot requests to the vault (issue 17): a sealpost agent asks for a slot for a file it
// will send to a recipient; the vault checks the size against the announced maximum and the
// recipient's quota (its pending bytes plus the blobs already announced), creates the blob in the
// recipient's shard and answers with a PUT URL (+ Authorization header) and a GET URL, each with
// its own unguessable token. Only the tokens' hashes are kept.
import { answerIq, NS, parseSlotRequest, slotXml } from '../protocol/index.js';
import { randomBytes } from 'node:crypto';
import type { ArchiveStore, BlobMeta } from '../archive/index.js';
import { normaliseBareJid } from '../archive/index.js';
import { AppError, ErrorCode } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import { bareJid, type XmppConnection } from '../xmpp/index.js';
import { tokenKey } from './tokens.js';

export interface SlotLimits {
  maxFileBytes: number;
  /** Blobs kept per recipient at most. */
  uploadSlotsPerUser: number;
  /** The recipient's pending quota: its undelivered bytes and its blobs together. */
  pendingMaxBytes: number;
  /** Percent of a recipient's slots and pending bytes one sender may hold (issue 14, as for messages). */
  senderSharePercent: number;
}

export interface SlotDeps {
  conn: XmppConnection;
  archive: ArchiveStore;
  limits: SlotLimits;
  /** Base URL agents reach the listener at (the TLS proxy in production; on a worker node, the ingest's front). */
  baseUrl: () => string;
  /** The shard of a user: it goes into the URL, so a front (the ingest) finds the shard's owner. */
  shardOf: (jid: string) => number;
  logger: Logger;
  now: () => number;
}

const MESSAGE_ID = /^[A-Za-z0-9_-]{8,128}$/;
/** Slots of one sender to one recipient whose manifest message has not been seen yet. */
const MAX_WAITING_PER_SENDER = 16;

function token(bytes: number): string {
  return randomBytes(bytes).toString('base64url');
}

/** What one sender may hold of one recipient's slots and pending bytes (at least one slot). */
function shareOf(l: SlotLimits): { slots: number; bytes: number } {
  return {
    slots: Math.max(1, Math.floor((l.uploadSlotsPerUser * l.senderSharePercent) / 100)),
    bytes: Math.floor((l.pendingMaxBytes * l.senderSharePercent) / 100),
  };
}

export function registerSlots(d: SlotDeps): void {
  const log = d.logger.child({ module: 'upload-slot' });
  d.conn.iqCallee.get(NS.upload, 'request', (ctx) =>
    answerIq(log, 'upload-slot', () => {
      const sender = normaliseBareJid(bareJid(ctx.from));
      const req = parseSlotRequest(ctx.element);
      const owner = normaliseBareJid(req.recipient);
      if (!MESSAGE_ID.test(req.messageId)) throw new AppError(ErrorCode.BadInput, 'file: message-id must be 8..128 base64url characters');
      if (req.size < 1) throw new AppError(ErrorCode.BadInput, 'request: size must be at least 1 byte');
      if (req.size > d.limits.maxFileBytes)
        throw new AppError(ErrorCode.ResourceLimit, `file-too-large: ${req.size} bytes is over the ${d.limits.maxFileBytes}-byte maximum`);
      const hash = d.archive.userHash(owner);
      const blobs = d.archive.blobs;
      // A repeated request for the same message (the sender restarted before keeping its slot)
      // replaces the earlier slot rather than adding one.
      let waiting = 0;
      const mine = { slots: 0, bytes: 0 };
      for (const slot of blobs.list(hash)) {
        const m = blobs.read(hash, slot);
        if (m?.sender !== sender) continue;
        if (m.messageId === req.messageId && !m.complete) {
          blobs.remove(hash, slot);
          continue;
        }
        mine.slots++;
        mine.bytes += m.size;
        if (!m.referenced) {
          if (d.archive.holdsMessage(owner, sender, m.messageId)) blobs.write(hash, slot, { ...m, referenced: true });
          else waiting++;
        }
      }
      // One sender cannot fill another user's quota with files it never announces.
      if (waiting >= MAX_WAITING_PER_SENDER)
        throw new AppError(ErrorCode.ResourceLimit, `${waiting} of your files to this recipient wait for their message; send those first`);
      // Nor take all of a recipient's slots or bytes, so other senders' files still get through.
      const share = shareOf(d.limits);
      if (mine.slots + 1 > share.slots)
        throw new AppError(ErrorCode.ResourceLimit, `you hold ${mine.slots} of this recipient's files, your share is ${share.slots}: wait until it collects them`);
      if (mine.bytes + req.size > share.bytes)
        throw new AppError(ErrorCode.ResourceLimit, `your files to this recipient would hold ${mine.bytes + req.size} bytes, your share is ${share.bytes}`);
      const held = blobs.announcedBytes(hash);
      if (held.slots >= d.limits.uploadSlotsPerUser)
        throw new AppError(ErrorCode.ResourceLimit, `the recipient holds ${held.slots} files, at most ${d.limits.uploadSlotsPerUser}`);
      const pending = d.archive.pendingCounts(owner).bytes;
      if (pending + held.bytes + req.size > d.limits.pendingMaxBytes)
        throw new AppError(ErrorCode.ResourceLimit, `the recipient's quota is full: ${pending + held.bytes} bytes waiting, ${d.limits.pendingMaxBytes} allowed`);
      const slot = token(16);
      const put = token(32);
      const get = token(32);
      const meta: BlobMeta = {
        owner,
        sender,
        messageId: req.messageId,
        size: req.size,
        received: 0,
        putKey: tokenKey(put),
        getKey: tokenKey(get),
        createdAt: d.now(),
        referenced: false,
        complete: false,
      };
      blobs.create(hash, slot, meta);
      log.info({ size: req.size }, 'upload slot created');
      const base = `${d.baseUrl()}/files/${d.shardOf(owner)}/${hash}/${slot}`;
      return slotXml({ putUrl: base, authorization: `Bearer ${put}`, getUrl: `${base}/${get}` });
    }),
  );
}
