// The SDK's side of the vault's upload listener (issue 17, XEP-0363 §5): ranged, checksummed PUTs
// of a ciphertext file that continue where the vault's copy ends (after a crash of either side),
// and a ranged GET that continues a partial download. Network failures and 5xx are retried with
// backoff until a deadline; a 4xx is the vault's final word and fails at once.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { pipeline } from 'node:stream/promises';
import { AppError, ErrorCode } from '../errors/index.js';

/** Bytes per PUT: each is checked by the vault against its SHA-256 before it counts. */
export const PUT_CHUNK = 8 * 1024 * 1024;
const CHECKSUM = 'x-sealpost-sha256';
const RECEIVED = 'x-sealpost-received';

export interface TransferOptions {
  /** Gives up when no progress was made for this long (default 10 min). */
  timeoutMs?: number;
  /** Called after each piece with the bytes done so far; a returned promise is awaited. */
  onProgress?: (done: number, total: number) => void | Promise<void>;
}

interface Reply {
  status: number;
  headers: IncomingMessage['headers'];
  text: string;
}

function send(url: string, method: string, headers: Record<string, string>, body?: Buffer): Promise<Reply> {
  const req = (url.startsWith('https:') ? httpsRequest : httpRequest)(url, { method, headers });
  return new Promise<Reply>((resolve, reject) => {
    req.on('error', reject);
    req.setTimeout(60_000, () => req.destroy(new Error('HTTP request timed out')));
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text = (text + c).slice(0, 1000)));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: text.trim() }));
      res.on('error', reject);
    });
    req.end(body);
  });
}

function refused(what: string, r: Reply): AppError {
  const code = r.status === 403 ? ErrorCode.Forbidden : r.status === 404 ? ErrorCode.NotFound : r.status === 413 ? ErrorCode.ResourceLimit : ErrorCode.BadInput;
  return new AppError(code, `${what} refused by the vault (HTTP ${r.status}): ${r.text}`);
}

/** Retries `step` on network errors and 5xx (returns undefined to retry) with backoff until no progress for the deadline. */
async function retrying(what: string, o: TransferOptions, step: () => Promise<boolean>): Promise<void> {
  let wait = 200;
  let lastProgress = Date.now();
  for (;;) {
    let done: boolean;
    try {
      done = await step();
      wait = 200;
      lastProgress = Date.now();
    } catch (err) {
      if (AppError.is(err) && err.permanent) throw err;
      if (Date.now() - lastProgress > (o.timeoutMs ?? 600_000))
        throw new AppError(ErrorCode.Unavailable, `${what}: the vault's upload service did not answer (${(err as Error).message})`);
      await new Promise((r) => setTimeout(r, wait));
      wait = Math.min(wait * 2, 5000);
      continue;
    }
    if (done) return;
  }
}

function receivedOf(r: Reply): number | undefined {
  const v = r.headers[RECEIVED];
  return typeof v === 'string' && /^\d{1,16}$/.test(v) ? Number(v) : undefined;
}

/** Uploads the file at `path` to a slot, continuing after what the vault already holds. */
export async function uploadFile(path: string, slot: { putUrl: string; authorization: string }, o: TransferOptions = {}): Promise<void> {
  const total = (await stat(path)).size;
  const fh = await open(path, 'r');
  const auth = { authorization: slot.authorization };
  let offset: number | undefined;
  try {
    await retrying('upload', o, async () => {
      if (offset === undefined) {
        const head = await send(slot.putUrl, 'HEAD', auth);
        if (head.status >= 500) throw new Error(`HTTP ${head.status}`);
        if (head.status !== 200) throw refused('upload', head);
        offset = receivedOf(head) ?? 0;
      }
      if (offset >= total) return true;
      const length = Math.min(PUT_CHUNK, total - offset);
      const body = Buffer.alloc(length);
      const { bytesRead } = await fh.read(body, 0, length, offset);
      if (bytesRead !== length) throw new AppError(ErrorCode.Internal, 'upload: the sealed file changed while it was sent');
      const r = await send(slot.putUrl, 'PUT', {
        ...auth,
        'content-type': 'application/octet-stream',
        'content-length': String(length),
        'content-range': `bytes ${offset}-${offset + length - 1}/${total}`,
        [CHECKSUM]: createHash('sha256').update(body).digest('base64'),
      }, body).catch((err: unknown) => {
        offset = undefined; // ask the vault how much it kept
        throw err;
      });
      if (r.status === 416) {
        offset = receivedOf(r);
        return false;
      }
      if (r.status >= 500) {
        offset = undefined;
        throw new Error(`HTTP ${r.status}`);
      }
      if (r.status !== 200 && r.status !== 201) throw refused('upload', r);
      offset = receivedOf(r) ?? offset + length;
      await o.onProgress?.(offset, total);
      return offset >= total;
    });
  } finally {
    await fh.close();
  }
}

/** Downloads `url` into `partPath`, continuing after the bytes already there; resolves with its size. */
export async function downloadFile(url: string, partPath: string, total: number, o: TransferOptions = {}): Promise<void> {
  await retrying('download', o, async () => {
    const have = await stat(partPath).then((s) => s.size, () => 0);
    if (have > total) throw new AppError(ErrorCode.BadSignature, `download: ${have} bytes is more than the ${total} announced`);
    if (have === total) return true;
    const req = (url.startsWith('https:') ? httpsRequest : httpRequest)(url, { method: 'GET', headers: have > 0 ? { range: `bytes=${have}-` } : {} });
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      req.on('error', reject);
      req.setTimeout(60_000, () => req.destroy(new Error('HTTP request timed out')));
      req.on('response', resolve);
      req.end();
    });
    if (res.statusCode !== 200 && res.statusCode !== 206) {
      let text = '';
      for await (const c of res as AsyncIterable<Buffer>) text = (text + c.toString('utf8')).slice(0, 1000);
      const r = { status: res.statusCode ?? 0, headers: res.headers, text: text.trim() };
      if (r.status >= 500) throw new Error(`HTTP ${r.status}`);
      throw refused('download', r);
    }
    // A 200 answers from the start: write the part file over.
    const out = createWriteStream(partPath, res.statusCode === 206 ? { flags: 'a', mode: 0o600 } : { flags: 'w', mode: 0o600 });
    let done = res.statusCode === 206 ? have : 0;
    const progress = async function* (src: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
      let since = 0;
      for await (const chunk of src) {
        done += chunk.length;
        if (done > total) throw new AppError(ErrorCode.BadSignature, `download: more than the ${total} bytes announced`);
        yield chunk;
        since += chunk.length;
        if (since >= 1024 * 1024) {
          since = 0;
          await o.onProgress?.(done, total);
        }
      }
    };
    await pipeline(res, progress, out);
    await o.onProgress?.(done, total);
    return done >= total;
  });
}
