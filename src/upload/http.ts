// The upload service's HTTP listener (issue 17, XEP-0363 §5 PUT/GET): loopback by default, behind a
// TLS proxy in production. PUT /files/<user>/<slot> (Authorization: Bearer <put token>) writes a
// range of the ciphertext (Content-Range: bytes S-E/size; S at most what arrived, so a resumed
// upload continues), checked against the chunk's SHA-256 (header `x-sealpost-sha256`) before it
// counts; HEAD on the same URL tells how much arrived. GET /files/<user>/<slot>/<get token> serves
// a complete blob (Range: bytes=S- resumes a download) while its message is stored.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, fsyncSync, openSync, closeSync, ftruncateSync, readSync, rmSync, writeSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isSlotId, isUserHash, type ArchiveStore, type BlobMeta } from '../archive/index.js';
import { AppError, ErrorCode } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import { blobFenceOf } from '../shards/index.js';
import { tokenMatches } from './tokens.js';

export const CHECKSUM_HEADER = 'x-sealpost-sha256';
export const RECEIVED_HEADER = 'x-sealpost-received';

export interface HttpDeps {
  archive: ArchiveStore;
  logger: Logger;
}

class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const RANGE = /^bytes (\d{1,16})-(\d{1,16})\/(\d{1,16})$/;
const GET_RANGE = /^bytes=(\d{1,16})-(\d{0,16})$/;

function send(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', connection: 'close', ...headers });
  res.end(`${text}\n`);
}

/** A file URL's parts: `/files[/<shard>]/<user hash>/<slot>[/<get token>]` (the shard since issue 15). */
export interface FileRoute {
  shard: number | undefined;
  hash: string;
  slot: string;
  getToken: string | undefined;
}

export function fileRoute(url: string | undefined): FileRoute | undefined {
  const parts = (url ?? '').split('?')[0]?.split('/') ?? [];
  if (parts[0] !== '' || parts[1] !== 'files') return undefined;
  let rest = parts.slice(2);
  let shard: number | undefined;
  if (rest[0] !== undefined && /^\d{1,5}$/.test(rest[0])) {
    shard = Number(rest[0]);
    rest = rest.slice(1);
  }
  const [hash, slot, getToken] = rest;
  if (hash === undefined || slot === undefined || !isUserHash(hash) || !isSlotId(slot) || rest.length > 3) return undefined;
  return { shard, hash, slot, getToken };
}

/** Which range a PUT writes: [start, start + length). */
function putRange(req: IncomingMessage, meta: BlobMeta): { start: number; length: number } {
  const cr = req.headers['content-range'];
  const cl = req.headers['content-length'];
  const declared = cl === undefined ? undefined : Number(cl);
  if (declared !== undefined && !Number.isSafeInteger(declared)) throw new Refusal(400, 'bad Content-Length');
  if (cr === undefined) {
    if (declared === undefined) throw new Refusal(411, 'Content-Length or Content-Range required');
    if (declared > meta.size) throw new Refusal(413, `body of ${declared} bytes is over the slot's ${meta.size} bytes`);
    return { start: 0, length: declared };
  }
  const m = RANGE.exec(cr);
  if (m === null) throw new Refusal(400, 'bad Content-Range (expected bytes S-E/size)');
  const [start, end, total] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (total !== meta.size) throw new Refusal(400, `Content-Range total ${total} is not the slot's size ${meta.size}`);
  if (end < start) throw new Refusal(400, 'Content-Range end before start');
  if (end >= meta.size) throw new Refusal(413, `range ends past the slot's ${meta.size} bytes`);
  if (declared !== undefined && declared !== end - start + 1) throw new Refusal(400, 'Content-Length does not match Content-Range');
  return { start, length: end - start + 1 };
}

/** Counts and hashes what passes; refuses a byte beyond `limit`. */
function meter(limit: number, hash: ReturnType<typeof createHash>): Transform & { bytes: number } {
  const t = new Transform({
    transform(chunk: Buffer, _enc, done) {
      t.bytes += chunk.length;
      if (t.bytes > limit) return done(new Refusal(413, 'body longer than its range'));
      hash.update(chunk);
      done(null, chunk);
    },
  }) as Transform & { bytes: number };
  t.bytes = 0;
  return t;
}

export function createUploadServer(d: HttpDeps): Server {
  const log = d.logger.child({ module: 'upload-http' });
  const busy = new Set<string>();
  const blobs = d.archive.blobs;

  /**
   * A PUT's body goes to a part file of its own first; once its length and checksum are right, one
   * fenced step (the shard's fence, issue 15) splices it into the blob at `start` and writes the
   * record. A node that lost its lease meanwhile is refused there and has touched nothing of the
   * blob, which the shard's new owner may be writing.
   */
  async function put(req: IncomingMessage, res: ServerResponse, hash: string, slot: string, meta: BlobMeta): Promise<void> {
    if (meta.complete) throw new Refusal(409, 'upload already complete');
    const sum = req.headers[CHECKSUM_HEADER];
    if (typeof sum !== 'string' || !/^[A-Za-z0-9+/]{43}=$/.test(sum)) throw new Refusal(400, `${CHECKSUM_HEADER} (base64 SHA-256 of the body) required`);
    const { start, length } = putRange(req, meta);
    if (start > meta.received) throw new Refusal(416, `upload continues at ${meta.received}`, { [RECEIVED_HEADER]: String(meta.received) });
    const fence = blobFenceOf(blobs);
    fence?.checkFence(hash); // refused before the body is read, not after
    const key = `${hash}/${slot}`;
    if (busy.has(key)) throw new Refusal(409, 'another upload to this slot is running');
    busy.add(key);
    const path = blobs.dataPath(hash, slot);
    const part = `${path}.${randomBytes(6).toString('hex')}.part`;
    try {
      const digest = createHash('sha256');
      const m = meter(length, digest);
      await pipeline(req, m, createWriteStream(part, { flags: 'wx', mode: 0o600 }));
      if (m.bytes !== length) throw new Refusal(400, `truncated body: ${m.bytes} of ${length} bytes`);
      if (digest.digest('base64') !== sum) throw new Refusal(400, 'checksum mismatch: chunk refused');
      const commit = (): BlobMeta => {
        // The record as it is now: another request (or node) may have moved it on meanwhile.
        const cur = blobs.read(hash, slot);
        if (cur === undefined) throw new Refusal(404, 'no such slot');
        if (cur.complete) throw new Refusal(409, 'upload already complete');
        if (start > cur.received) throw new Refusal(416, `upload continues at ${cur.received}`, { [RECEIVED_HEADER]: String(cur.received) });
        splice(part, path, start, length);
        const received = start + length;
        const next = { ...cur, received, complete: received === cur.size };
        blobs.write(hash, slot, next);
        return next;
      };
      const next = fence === undefined ? commit() : fence.underFence(hash, commit);
      send(res, next.complete ? 201 : 200, next.complete ? 'complete' : 'stored', { [RECEIVED_HEADER]: String(next.received) });
    } finally {
      rmSync(part, { force: true });
      busy.delete(key);
    }
  }

  function get(req: IncomingMessage, res: ServerResponse, hash: string, slot: string, meta: BlobMeta): void {
    if (!meta.complete) throw new Refusal(409, 'upload not complete');
    // Served only while its message is stored: a deleted or expired message's file is gone too.
    if (!d.archive.holdsMessage(meta.owner, meta.sender, meta.messageId)) throw new Refusal(404, 'no such file');
    if (!meta.referenced) blobs.write(hash, slot, { ...meta, referenced: true });
    let start = 0;
    let end = meta.size - 1;
    const range = req.headers.range;
    if (range !== undefined) {
      const m = GET_RANGE.exec(range);
      if (m === null) throw new Refusal(416, 'bad Range (expected bytes=S- or bytes=S-E)');
      start = Number(m[1]);
      if (m[2] !== '' && m[2] !== undefined) end = Math.min(end, Number(m[2]));
      if (start > end) throw new Refusal(416, `range starts past the ${meta.size} bytes`, { 'content-range': `bytes */${meta.size}` });
    }
    const headers: Record<string, string> = {
      'content-type': 'application/octet-stream',
      'content-length': String(end - start + 1),
      'accept-ranges': 'bytes',
    };
    if (range !== undefined) headers['content-range'] = `bytes ${start}-${end}/${meta.size}`;
    res.writeHead(range === undefined ? 200 : 206, headers);
    if (req.method === 'HEAD') return void res.end();
    createReadStream(blobs.dataPath(hash, slot), { start, end })
      .on('error', () => res.destroy())
      .pipe(res);
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = fileRoute(req.url);
    if (at === undefined) throw new Refusal(404, 'not found');
    const { hash, slot, getToken } = at;
    const meta = blobs.read(hash, slot);
    if (meta === undefined) throw new Refusal(404, 'no such slot');
    if (getToken !== undefined) {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new Refusal(405, 'GET or HEAD only', { allow: 'GET, HEAD' });
      if (!tokenMatches(getToken, meta.getKey)) throw new Refusal(403, 'invalid token');
      return get(req, res, hash, slot, meta);
    }
    const auth = req.headers.authorization;
    const token = typeof auth === 'string' && auth.startsWith('Bearer ') ? auth.slice(7) : undefined;
    if (!tokenMatches(token, meta.putKey)) throw new Refusal(403, 'invalid or missing upload token');
    if (req.method === 'HEAD') return send(res, 200, '', { [RECEIVED_HEADER]: String(meta.received) });
    if (req.method !== 'PUT') throw new Refusal(405, 'PUT or HEAD only', { allow: 'PUT, HEAD' });
    return put(req, res, hash, slot, meta);
  }

  return createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      if (err instanceof Refusal) {
        log.info({ status: err.status, method: req.method, reason: err.message }, 'upload request refused');
        send(res, err.status, err.message, err.headers);
        req.resume(); // drain what the client still sends; the connection closes after the reply
        return;
      }
      if (AppError.is(err, ErrorCode.Unavailable)) {
        // The shard moved (a fenced write) or its store is busy: the client asks again.
        log.info({ method: req.method, reason: (err as Error).message }, 'upload request unavailable here');
        send(res, 503, 'unavailable: try again', { 'retry-after': '1' });
        req.resume();
        return;
      }
      log.warn({ method: req.method, error: (err as Error).message }, 'upload request failed');
      send(res, 500, 'upload failed');
    });
  });
}

/** Writes `part` (`length` bytes) into the blob at `start`, drops anything after it, and syncs. */
function splice(part: string, path: string, start: number, length: number): void {
  const src = openSync(part, 'r');
  const dst = openSync(path, 'r+');
  try {
    ftruncateSync(dst, start);
    const buf = Buffer.allocUnsafe(Math.min(length, 1 << 20));
    for (let done = 0; done < length; ) {
      const n = readSync(src, buf, 0, Math.min(buf.length, length - done), done);
      if (n === 0) throw new Error('upload part shorter than its range');
      writeSync(dst, buf, 0, n, start + done);
      done += n;
    }
    fsyncSync(dst);
  } finally {
    closeSync(src);
    closeSync(dst);
  }
}
