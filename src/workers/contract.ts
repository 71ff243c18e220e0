// The queue contract between ingest and the workers (design.md "Storage": jobs carry only ids,
// JIDs and ciphertext, never plaintext). Typed job data, names and ids for every queue, so a
// producer and a worker in different processes agree on one definition.
import { blake2b } from '../keys/index.js';
import type { EnvelopeWire } from '../keys/index.js';

export const QUEUE = {
  store: 'store',
  deliver: 'deliver',
  retention: 'retention',
} as const;

/**
 * BullMQ's name for queue `name`: inside a hash tag, so all keys of one queue share a slot on
 * Redis Cluster (BullMQ's scripts touch several at once) while queues spread over the masters.
 * A shard's queues (`store-s<k>`, `deliver-s<k>`, issue 15) are tagged by their shard,
 * `{s<k>}-store`, so they share the slot of the shard's lease and request channel.
 * Job names, metrics and logs keep the plain name.
 */
export function queueKeyName(name: string): string {
  const m = /^(store|deliver)-s(\d+)$/.exec(name);
  return m === null ? `{${name}}` : `{s${m[2] as string}}-${m[1] as string}`;
}

/** One checked submitted item: the envelope's wire form (base64 ciphertext) and where to answer. */
export interface StoreItem {
  /** Sender bare JID as the XMPP server stamped it (normalised). */
  sender: string;
  /** The sender's full JID: the receipt or the error goes there. */
  replyTo: string;
  /** XMPP stanza id of the submission, echoed in the receipt (XEP-0184). */
  stanzaId: string;
  recipient: string;
  messageId: string;
  /** ms since the epoch when ingest accepted the stanza. */
  receivedAt: number;
  envelope: EnvelopeWire;
}

/** One more item of the same submission stanza and recipient as the job's own. */
export interface StoreBatchItem {
  messageId: string;
  envelope: EnvelopeWire;
}

/**
 * What travels in a store job (issue 9 batches): its first item, and the following items of the
 * same stanza and recipient in `more`, in stanza order. A single item is a batch of one.
 */
export interface StoreJobData extends StoreItem {
  more?: StoreBatchItem[];
  /**
   * Only the sender's own-AK copies, for the sender's archive (issue 15): the recipient's shard
   * committed the message and hands these to the sender's shard's queue when that is another.
   */
  sentCopy?: true;
}

export interface StoreJobResult {
  inserted: boolean;
  archiveId: string;
}

export interface DeliverJobData {
  /** Recipient bare JID. */
  jid: string;
  device: number;
}

export interface DeliverJobResult {
  sent: number;
}

/** BullMQ job names, typed through Queue<Data, Result, Name>. */
export type StoreJobName = typeof QUEUE.store;
export type DeliverJobName = typeof QUEUE.deliver;

/**
 * Job id of a submission: a keyed-free BLAKE2b of (sender, message id), hex. Equal submissions map
 * to one job while it exists (BullMQ drops the duplicate); the archive's unique key covers the
 * rest. Hashing keeps ':' (BullMQ's separator) and JIDs out of Redis key names.
 */
export function storeJobId(sender: string, messageId: string): string {
  const input = new TextEncoder().encode(`sealpost/v1/store-job\u0000${sender}\u0000${messageId}`);
  return `s-${Buffer.from(blake2b(16, input)).toString('hex')}`;
}

/** Name of shard `k`'s store queue: its users' submissions, stored in order by its owner. */
export function storeShardName(k: number): string {
  return `${QUEUE.store}-s${k}`;
}

/** Name of shard `k`'s delivery queue: run only by the shard's owner, which holds the archive. */
export function deliverShardName(k: number): string {
  return `${QUEUE.deliver}-s${k}`;
}

/** One delivery job per (user, device) while one is waiting or running. */
export function deliverJobId(jid: string, device: number): string {
  const input = new TextEncoder().encode(`sealpost/v1/deliver-job\u0000${jid}\u0000${device}`);
  return `d-${Buffer.from(blake2b(16, input)).toString('hex')}`;
}
