// The operations HTTP endpoint (loopback by default): /healthz reports each dependency,
// /metrics serves Prometheus text (behind the ops token when one is set). node:http keeps it
// dependency-free.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log/index.js';
import type { Metrics } from '../metrics/index.js';
import { requireToken } from './token.js';

/** One named check; resolves true when healthy. Must not throw secrets into messages. */
export type HealthCheck = () => Promise<boolean>;

export interface OpsServerOptions {
  host: string;
  port: number;
  metrics: Metrics;
  checks: Record<string, HealthCheck>;
  logger: Logger;
  /** Called before /metrics renders, to refresh gauges (queue depths and the like). */
  beforeScrape?: () => Promise<void>;
  /** When set, /metrics answers 401 without it (Bearer, or Basic with it as password). */
  metricsToken?: string;
  /** Extra handlers by path prefix (the queue dashboard under /queues); they check their own auth. */
  mounts?: Record<string, (req: IncomingMessage, res: ServerResponse) => void>;
}

export interface OpsServer {
  url: string;
  close(): Promise<void>;
}

async function runChecks(checks: Record<string, HealthCheck>): Promise<Record<string, boolean>> {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      const ok = await Promise.race([
        check().catch(() => false),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 2000).unref()),
      ]);
      return [name, ok] as const;
    }),
  );
  return Object.fromEntries(entries);
}

export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const log = options.logger.child({ module: 'ops' });
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const mount = Object.entries(options.mounts ?? {}).find(([prefix]) => path === prefix || path?.startsWith(`${prefix}/`));
    if (mount !== undefined) {
      mount[1](req, res);
      return;
    }
    const reply = async (): Promise<void> => {
      if (req.method !== 'GET') {
        res.writeHead(405, { allow: 'GET' }).end();
      } else if (path === '/healthz') {
        const results = await runChecks(options.checks);
        const ok = Object.values(results).every(Boolean);
        res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ok, checks: results }));
      } else if (path === '/metrics') {
        if (options.metricsToken !== undefined && !requireToken(req, res, options.metricsToken)) return;
        await options.beforeScrape?.();
        res.writeHead(200, { 'content-type': options.metrics.registry.contentType });
        res.end(await options.metrics.registry.metrics());
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      }
    };
    reply().catch((err: unknown) => {
      log.error({ err }, 'ops request failed');
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const url = `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${address.port}`;
  log.info({ url }, 'operations endpoint listening');
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
