// A real Redis Cluster on loopback for tests and local scale-out runs (issue 15): N masters started
// with `redis-server --cluster-enabled yes`, joined by `redis-cli --cluster create` with no
// replicas, ready once every node reports cluster_state:ok; stopped and removed afterwards.
import { AppError, ErrorCode } from '../errors/index.js';
import { silentLogger, type Logger } from '../log/index.js';
import { freePort, portAnswers, run, waitFor, which } from './proc.js';
import { startRedisServer, type RedisServerHandle } from './redis.js';

export interface RedisClusterHandle {
  /** `redis://127.0.0.1:<port>` of each master; any one is a seed for a cluster client. */
  readonly urls: readonly string[];
  readonly nodes: readonly RedisServerHandle[];
  stop(): Promise<void>;
}

/** A free port whose cluster bus port (port + 10000) is free too. */
async function clusterPort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = await freePort();
    if (p + 10_000 < 65_536 && !(await portAnswers('127.0.0.1', p + 10_000))) return p;
  }
  throw new AppError(ErrorCode.Unavailable, 'no free port pair for a Redis Cluster node');
}

async function clusterOk(cli: string, port: number): Promise<boolean> {
  const r = await run(cli, ['-p', String(port), 'cluster', 'info'], { timeoutMs: 2_000 });
  return r.code === 0 && r.output.includes('cluster_state:ok');
}

export async function startRedisCluster(options: { masters?: number; logger?: Logger } = {}): Promise<RedisClusterHandle> {
  const logger = options.logger ?? silentLogger();
  const masters = options.masters ?? 3;
  if (!Number.isInteger(masters) || masters < 3) throw new RangeError(`masters: Redis Cluster needs at least 3, got ${masters}`);
  const cli = which('redis-cli');
  if (cli === undefined) throw new AppError(ErrorCode.Unavailable, 'redis-cli is not installed (apt-get install redis-tools)');
  const nodes: RedisServerHandle[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.stop().catch(() => undefined)));
  };
  try {
    for (let i = 0; i < masters; i++) {
      const port = await clusterPort();
      nodes.push(
        await startRedisServer({
          port,
          logger,
          extraArgs: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '3000'],
        }),
      );
    }
    const addrs = nodes.map((n) => `127.0.0.1:${n.port}`);
    const created = await run(cli, ['--cluster', 'create', ...addrs, '--cluster-replicas', '0', '--cluster-yes'], { timeoutMs: 30_000 });
    if (created.code !== 0) throw new AppError(ErrorCode.Unavailable, `redis-cli --cluster create failed: ${created.output.slice(-1000)}`);
    for (const n of nodes) await waitFor(`cluster_state:ok on ${n.port}`, () => clusterOk(cli, n.port), 20_000);
    logger.debug({ ports: nodes.map((n) => n.port) }, 'redis cluster ready');
    return { urls: nodes.map((n) => n.url), nodes, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
