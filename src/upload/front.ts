// The upload front of a scale-out deployment (issue 15, README "Scaling out"): `sealpost ingest`
// serves the one public upload URL agents are given (XEP-0363 clients expect one service), and
// passes each PUT, HEAD and GET on to the HTTP listener of the worker node that owns the file's
// shard now (the shard is in the URL; its lease holder from the lease store, the holder's listener
// from the node registry). A slot's URL therefore stays valid when its shard moves: the next
// request goes to the new owner, which reads the same shard directory. The front holds no state
// and checks no token: the owner's listener does every check, as under `sealpost serve`.
import { request, createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Logger } from '../log/index.js';
import { listenHttp } from '../net/index.js';
import type { LeaseStore, NodeRegistry } from '../shards/index.js';
import { CHECKSUM_HEADER, fileRoute, RECEIVED_HEADER } from './http.js';
import type { UploadService } from './index.js';

export interface UploadFrontOptions {
  host: string;
  port: number;
  publicUrl?: string | undefined;
  /** The deployment's shard count: a URL naming another shard is not found. */
  count: number;
  /** The base URL of the listener of shard k's owner now; undefined while it has none. */
  ownerUrl(shard: number): Promise<string | undefined>;
  logger: Logger;
}

/** Headers passed on to the owner and back: the ones the upload protocol uses, nothing else. */
const FORWARD = ['authorization', 'content-type', 'content-length', 'content-range', 'range', CHECKSUM_HEADER];
const BACK = ['content-type', 'content-length', 'content-range', 'accept-ranges', 'allow', 'retry-after', RECEIVED_HEADER];

function pick(headers: IncomingMessage['headers'], names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) {
    const v = headers[n];
    if (typeof v === 'string') out[n] = v;
  }
  return out;
}

function reply(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', connection: 'close', ...headers });
  res.end(`${text}\n`);
}

/** The owner lookup a front uses: the shard's lease holder, and that node's announced listener. */
export function ownerListeners(leases: Pick<LeaseStore, 'holder'>, registry: Pick<NodeRegistry, 'list'>, cacheMs = 1000): (shard: number) => Promise<string | undefined> {
  let cached: { at: number; urls: Map<string, string> } | undefined;
  const urls = async (fresh: boolean): Promise<Map<string, string>> => {
    if (!fresh && cached !== undefined && Date.now() - cached.at < cacheMs) return cached.urls;
    const { nodes } = await registry.list();
    const map = new Map<string, string>();
    for (const n of nodes) if (n.upload !== undefined) map.set(n.node, n.upload);
    cached = { at: Date.now(), urls: map };
    return map;
  };
  return async (shard) => {
    const holder = await leases.holder(shard);
    if (holder === undefined) return undefined;
    return (await urls(false)).get(holder.node) ?? (await urls(true)).get(holder.node);
  };
}

export async function registerUploadFront(o: UploadFrontOptions): Promise<UploadService> {
  const log = o.logger.child({ module: 'upload-front' });
  const server = createServer((req, res) => {
    const at = fileRoute(req.url);
    if (at?.shard === undefined || at.shard >= o.count) {
      req.resume();
      return reply(res, 404, 'not found');
    }
    const path = `/files/${at.shard}/${at.hash}/${at.slot}${at.getToken === undefined ? '' : `/${at.getToken}`}`;
    o.ownerUrl(at.shard).then(
      (base) => {
        if (base === undefined) {
          req.resume();
          return reply(res, 503, 'the file\'s shard has no owner right now: try again', { 'retry-after': '1' });
        }
        const up = request(`${base}${path}`, { method: req.method, headers: { ...pick(req.headers, FORWARD), connection: 'close' } }, (ures) => {
          res.writeHead(ures.statusCode ?? 502, { ...pick(ures.headers, BACK), connection: 'close' });
          ures.pipe(res);
          ures.on('error', () => res.destroy());
        });
        up.on('error', (err) => {
          log.info({ shard: at.shard, reason: err.message }, 'upload owner not reached');
          req.resume();
          reply(res, 503, 'the file\'s owner did not answer: try again', { 'retry-after': '1' });
        });
        req.pipe(up);
        res.on('close', () => {
          if (!up.writableFinished || !res.writableFinished) up.destroy();
        });
      },
      (err: unknown) => {
        log.warn({ shard: at.shard, error: (err as Error).message }, 'upload owner lookup failed');
        req.resume();
        reply(res, 503, 'try again', { 'retry-after': '1' });
      },
    );
  });
  const url = await listenHttp(server, o.port, o.host);
  log.info({ url, publicUrl: o.publicUrl ?? url }, 'file upload front listening');
  return {
    url,
    publicUrl: (o.publicUrl ?? url).replace(/\/+$/, ''),
    sweep: () => 0,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
