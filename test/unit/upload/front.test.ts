// The ingest's upload front (issue 15): passes a file request to the listener of the shard's owner
// and its answer back (status, the protocol's headers, the body), with nothing else; 503 while the
// shard has no owner or the owner does not answer (agents ask again); 404 for a URL that names no
// shard of the deployment.
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/log/index.js';
import { ownerListeners, registerUploadFront, type UploadService } from '../../../src/upload/index.js';

const HASH = 'ab'.repeat(32);
const SLOT = 'A'.repeat(22);

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

function call(base: string, path: string, method: string, headers: Record<string, string> = {}, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method, headers }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('upload front', () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });

  async function owner(): Promise<{ url: string; seen: { method: string; url: string; headers: IncomingHttpHeaders; body: string }[] }> {
    const seen: { method: string; url: string; headers: IncomingHttpHeaders; body: string }[] = [];
    const server: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
        res.writeHead(201, { 'x-sealpost-received': String(body.length), 'x-secret-internal': 'no', 'content-type': 'text/plain' });
        res.end('complete\n');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    closers.push(() => new Promise((r) => server.close(() => r())));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
  }

  async function front(ownerUrl: (k: number) => Promise<string | undefined>): Promise<UploadService> {
    const f = await registerUploadFront({ host: '127.0.0.1', port: 0, count: 8, ownerUrl, logger: silentLogger() });
    closers.push(() => f.close());
    return f;
  }

  it("passes a PUT to the shard owner's listener and its answer back, with only the protocol's headers", async () => {
    const o = await owner();
    const asked: number[] = [];
    const f = await front((k) => {
      asked.push(k);
      return Promise.resolve(o.url);
    });
    const headers = { authorization: 'Bearer t', 'content-range': 'bytes 0-4/5', 'x-sealpost-sha256': 'x', cookie: 'c=1', 'x-forwarded-for': '1.2.3.4' };
    const r = await call(f.url, `/files/3/${HASH}/${SLOT}`, 'PUT', headers, 'hello');
    expect(r).toMatchObject({ status: 201, body: 'complete\n' });
    expect(r.headers['x-sealpost-received']).toBe('5');
    expect(r.headers['x-secret-internal']).toBeUndefined();
    expect(asked).toEqual([3]);
    expect(o.seen).toHaveLength(1);
    expect(o.seen[0]).toMatchObject({ method: 'PUT', url: `/files/3/${HASH}/${SLOT}`, body: 'hello' });
    expect(o.seen[0]?.headers).toMatchObject({ authorization: 'Bearer t', 'content-range': 'bytes 0-4/5', 'x-sealpost-sha256': 'x' });
    expect(o.seen[0]?.headers.cookie).toBeUndefined();
    expect(o.seen[0]?.headers['x-forwarded-for']).toBeUndefined();
  });

  it('answers 503 while the shard has no owner or its owner does not answer, 404 for a URL naming no shard', async () => {
    const o = await owner();
    const none = await front(() => Promise.resolve(undefined));
    const r = await call(none.url, `/files/3/${HASH}/${SLOT}/token`, 'GET');
    expect(r.status).toBe(503);
    expect(r.headers['retry-after']).toBe('1');
    const dead = await front(() => Promise.resolve('http://127.0.0.1:1'));
    expect((await call(dead.url, `/files/3/${HASH}/${SLOT}`, 'HEAD')).status).toBe(503);
    const f = await front(() => Promise.resolve(o.url));
    expect((await call(f.url, `/files/${HASH}/${SLOT}`, 'GET')).status).toBe(404); // no shard in it
    expect((await call(f.url, `/files/8/${HASH}/${SLOT}`, 'GET')).status).toBe(404); // not a shard of 8
    expect((await call(f.url, `/files/3/${HASH}/../../x`, 'GET')).status).toBe(404);
    expect(o.seen).toEqual([]);
  });

  it("finds the owner's listener from the lease holder and the node registry, refreshing for a node it has not seen", async () => {
    let nodes = [{ node: 'n-a', upload: 'http://a' }];
    let lists = 0;
    const registry = {
      list: () => {
        lists++;
        return Promise.resolve({ now: 0, ignored: 0, nodes: nodes.map((n) => ({ ...n, count: 8, roots: [], held: [], ttlMs: 1000, seenAt: 0 })) });
      },
    };
    const holders = new Map([[1, 'n-a'], [2, 'n-b']]);
    const leases = { holder: (k: number) => Promise.resolve(holders.has(k) ? { node: holders.get(k) as string, epoch: 1 } : undefined) };
    const find = ownerListeners(leases, registry, 60_000);
    expect(await find(1)).toBe('http://a');
    expect(await find(0)).toBeUndefined();
    nodes = [...nodes, { node: 'n-b', upload: 'http://b' }];
    expect(await find(2)).toBe('http://b'); // not in the cached list: read again
    expect(lists).toBe(2);
  });
});
