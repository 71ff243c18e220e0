// Shredding through the running service (issue 14, attack 8): `sealpost shred` on the data dir of
// a live service removed the files under the service's pooled handle, which went on reading the
// "shredded" archive and acknowledged new messages into the unlinked file (lost). Now the operator
// asks the service over the MAC'd request bus (request-bus.ts; only holders of the master key can
// ask), on the ops channel every service process of the deployment listens to. The first process
// to claim a request shreds (its own handle closed, the file locked meanwhile: user-files.ts);
// the others wait for its report and answer it too: a request runs once, never again after a
// message re-created the user's archive. Other processes' pooled handles see the keyring change.
import { randomBytes } from 'node:crypto';
import { AppError, ErrorCode } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import { createRedis, type Redis } from './bullmq.js';
import { createRequestBus, type RequestBus } from './request-bus.js';
import type { ShredReport } from './retention.js';

/** The ops channel's "shard" on the ops bus (one channel per deployment today). */
export const OPS_CHANNEL = 0;
const CLAIM_SECONDS = 600;
/** How long a process that did not claim a request waits for the claimer's report. */
const WAIT_MS = 120_000;

interface ShredRequest {
  op: 'shred';
  jid: string;
  /** Names this request: it is carried out once whoever hears it. */
  nonce: string;
}

function isShredRequest(v: unknown): v is ShredRequest {
  const r = v as Partial<ShredRequest> | null;
  return typeof r === 'object' && r !== null && r.op === 'shred' && typeof r.jid === 'string' && typeof r.nonce === 'string' && /^[A-Za-z0-9_-]{16,64}$/.test(r.nonce);
}

export interface OpsBusOptions {
  /** Publishes requests and replies. */
  producer: Redis;
  url: string;
  cluster: boolean;
  prefix: string;
  /** The deployment's request-bus key (derived from the master key: stores' deploymentKeys). */
  macKey: Uint8Array;
  logger: Logger;
}

/** The deployment's ops bus: its own subscriber connection, channels under `<prefix>:ops`. */
export function createOpsBus(o: OpsBusOptions): RequestBus {
  const subscriber = createRedis(o.url, 'worker', { connectionName: 'sealpost:ops', cluster: o.cluster });
  subscriber.on('error', (err: Error) => o.logger.warn({ error: err.message }, 'ops bus connection error'));
  return createRequestBus({
    publisher: o.producer,
    subscriber,
    prefix: `${o.prefix}:ops`,
    node: randomBytes(9).toString('base64url'),
    macKey: o.macKey,
    logger: o.logger,
    exactReceivers: !o.cluster,
  });
}

const claimKey = (prefix: string, nonce: string): string => `${prefix}:{ops}:shred:${nonce}`;

export interface ServeShredOptions {
  /** The deployment's ops bus. */
  bus: RequestBus;
  redis: Redis;
  prefix: string;
  shred(jid: string): ShredReport;
  /**
   * Whether this process holds the user's data (default: yes, every process on the one data dir).
   * Where shards have owners, only the owner claims; the others wait for its report.
   */
  owns?: (jid: string) => boolean;
  logger: Logger;
}

/** Answers shred requests until the returned stop() is called. */
export function serveShredRequests(o: ServeShredOptions): Promise<() => Promise<void>> {
  const log = o.logger.child({ module: 'shred-requests' });
  return o.bus.serve(OPS_CHANNEL, async (payload) => {
    if (!isShredRequest(payload)) throw new AppError(ErrorCode.BadInput, 'not a shred request');
    const key = claimKey(o.prefix, payload.nonce);
    const owner = o.owns?.(payload.jid) ?? true;
    if (owner && (await o.redis.set(key, 'running', 'EX', CLAIM_SECONDS, 'NX')) === 'OK') {
      try {
        const report = o.shred(payload.jid);
        await o.redis.set(key, JSON.stringify(report), 'EX', CLAIM_SECONDS);
        return report;
      } catch (err) {
        log.warn({ error: (err as Error).message }, 'shred request failed');
        await o.redis.set(key, JSON.stringify({ error: (err as Error).message.slice(0, 300) }), 'EX', CLAIM_SECONDS);
        throw err;
      }
    }
    // Someone else claimed it (or will: its owner): answer with its report.
    for (const deadline = Date.now() + WAIT_MS; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 50))) {
      const v = await o.redis.get(key);
      if (v === null || v === 'running') continue;
      const done = JSON.parse(v) as ShredReport | { error: string };
      if ('error' in done) throw new AppError(ErrorCode.Internal, done.error);
      return done;
    }
    throw new AppError(ErrorCode.Timeout, 'no process holding this user carried the shred out in time');
  });
}

/** Asks the running service to shred `jid`; resolves with its report. */
export async function requestShred(bus: RequestBus, jid: string, timeoutMs = 30_000): Promise<ShredReport> {
  const request: ShredRequest = { op: 'shred', jid, nonce: randomBytes(18).toString('base64url') };
  try {
    return (await bus.request(OPS_CHANNEL, request, timeoutMs)) as ShredReport;
  } catch (err) {
    if (AppError.is(err, ErrorCode.Unavailable) && /no owner/.test((err as Error).message))
      throw new AppError(ErrorCode.Unavailable, 'no running sealpost service answered; when none runs on the data dir, shred it with --offline', { cause: err });
    throw err;
  }
}
