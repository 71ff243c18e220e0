// The operations surface for the composition root: the HTTP endpoint with its health checks (XMPP
// online, Redis answering, data dir writable), queue depths refreshed before each scrape, and the
// queue dashboard when an ops token is set (the only place that token goes; it then guards
// /metrics too).
import { constants as fsConstants } from 'node:fs';
import { access } from 'node:fs/promises';
import type { OpsSlice } from '../config/index.js';
import type { Logger } from '../log/index.js';
import type { Metrics } from '../metrics/index.js';
import type { Queue } from '../workers/index.js';
import { createDashboard, DASHBOARD_PATH } from './dashboard.js';
import { startOpsServer, type OpsServer } from './server.js';

/** A queue as the ops endpoint sees it: counts by state. */
interface Countable {
  getJobCounts(...states: ('waiting' | 'active' | 'delayed' | 'failed')[]): Promise<Record<string, number>>;
}

export interface OpsOptions extends OpsSlice {
  conn: { readonly status: string };
  redis: { ping(): Promise<string> };
  /** Depth gauges by queue name. */
  depths: Record<string, Countable>;
  /** Queues shown on the dashboard. */
  dashboard: readonly Queue[];
  metrics: Metrics;
  logger: Logger;
}

export function registerOps(o: OpsOptions): Promise<OpsServer> {
  return startOpsServer({
    host: o.host,
    port: o.port,
    metrics: o.metrics,
    logger: o.logger,
    checks: {
      xmpp: () => Promise.resolve(o.conn.status === 'online'),
      redis: async () => (await o.redis.ping()) === 'PONG',
      archive: async () => {
        await access(o.dataDir, fsConstants.W_OK);
        return true;
      },
    },
    beforeScrape: async () => {
      for (const [name, queue] of Object.entries(o.depths)) {
        const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed');
        for (const [state, n] of Object.entries(counts)) o.metrics.queueDepth.set({ queue: name, state }, n);
      }
    },
    ...(o.token === undefined
      ? {}
      : { metricsToken: o.token, mounts: { [DASHBOARD_PATH]: createDashboard(o.dashboard, o.token, o.dashboardWritable) } }),
  });
}
