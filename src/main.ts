// The composition root: it only wires (issue 13, in the manner of xmpp.js's client/index.js). Each
// part opens through one cleanup stack, so a failed start step and stop() close exactly what was
// opened, newest first; each surface registers itself from its own folder with its config slice.
// It runs the roles asked for: ingest, worker, or both in one process (the local default).
import { pathToFileURL } from 'node:url';
import type { ArchiveStore } from './archive/index.js';
import { configSlices, loadConfig, vaultBareJid, type Config } from './config/index.js';
import { registerDirectory, type DirectoryStore } from './directory/index.js';
import { deviceAnnouncements, forwardPresence, servedOnly, registerDisco, registerForwarding, registerInitialPresence, registerMam, registerPresence, registerReceipts, registerSubmissions } from './ingest/index.js';
import { cleanupStack } from './lifecycle/index.js';
import { createLogger, type Logger } from './log/index.js';
import { createMetrics, type Metrics } from './metrics/index.js';
import { registerOps, type OpsServer } from './ops/index.js';
import { createShardHost, startWorkerNode, sweepAll } from './node/index.js';
import { expiryNoticeStanza } from './protocol/index.js';
import { claimDeployment, nodeRegistry, redisLeaseStore, shardOf, type FenceState, type Lease } from './shards/index.js';
import { createUsageMirror, mirrorWrites, shardTagOf } from './quota/index.js';
import { createShardedStores, deploymentKeys, holdDataDir, openShardOpener, type ShardedStores } from './stores/index.js';
import { ownerListeners, registerUpload, registerUploadFront, uploadDisco, type UploadService } from './upload/index.js';
import { connectRedis, createDelivery, createOpsBus, createQueues, openRequestBus, registerRetention, serveShredRequests, shred, SHARD_WORKER_IDLE_MS, SHARD_WORKER_POLL_MS } from './workers/index.js';
import type { Delivery, DeliveryTiming, ExpiredMessageNotice, Queues, RetentionService, ShredReport } from './workers/index.js';
import { connectXmpp, type XmppConnection } from './xmpp/index.js';

export type Role = 'ingest' | 'worker';

export interface StartOptions {
  roles?: readonly Role[];
  logger?: Logger;
  /** Ops HTTP endpoint; off when false (tests). */
  ops?: boolean;
  /** Delivery timing: receipt timeout, rounds before giving up, registry poll (tests shorten them). */
  delivery?: DeliveryTiming;
  /** The retention sweep's clock (tests move time instead of waiting); default Date.now. */
  retentionClock?: () => number;
}

export interface Service {
  config: Config;
  conn: XmppConnection;
  archive: ArchiveStore;
  directory: DirectoryStore;
  queues: Queues;
  metrics: Metrics;
  ops: OpsServer | undefined;
  /** Delivery on presence (issue 6): registry, scheduler, hub, pending gauges. */
  delivery: Delivery;
  /** The retention sweep (issue 7): its queue, and `runNow()` for a sweep on demand. */
  retention: RetentionService;
  /** The file upload service (issue 17), where ingest runs. */
  upload: UploadService | undefined;
  /** Crypto-shreds one user's archive and removes its published devices (operator command). */
  shred(jid: string): ShredReport;
  stop(): Promise<void>;
}

/** Builds and starts the service; resolves once it is online and taking work. */
export async function startService(config: Config, options: StartOptions = {}): Promise<Service> {
  const roles = new Set<Role>(options.roles ?? ['ingest', 'worker']);
  const serve = roles.has('ingest') && roles.has('worker');
  const role = serve ? 'serve' : roles.has('worker') ? 'worker' : 'ingest';
  const c = configSlices(config);
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const metrics = createMetrics();
  const stack = cleanupStack(logger);
  try {
    // A shared hold on the data dir: an offline `sealpost shred` refuses to run beside us (issue 14).
    await stack.open('data dir hold', () => holdDataDir(c.stores.dataDir), (hold) => hold.release());
    const single = roles.has('worker') ? 'migrate' : 'ignore';
    const opener = await stack.open('stores', () => openShardOpener(c.stores, logger, { single }), (o) => o.close());
    const { layout } = opener;
    const node = c.shards.nodeId ?? layout.node;
    const sharded = createShardedStores(layout.count, opener.serverPublicKey);
    const { directory } = sharded;
    const redis = await stack.open('redis', () => connectRedis(c.redis, logger));
    const { prefix } = c.redis;
    const ttlMs = c.shards.leaseSeconds * 1000;
    // Every process agrees on the shard count and master key; serve and worker nodes never mix.
    const claim = { role, rootId: layout.node, count: layout.count, masterCheck: opener.masterCheck, ttlMs: 3 * ttlMs } as const;
    await claimDeployment(redis.producer, prefix, claim);
    const mark = setInterval(() => void claimDeployment(redis.producer, prefix, claim).catch((err: unknown) => logger.warn({ error: (err as Error).message }, 'deployment mark not renewed')), ttlMs);
    stack.push('deployment mark', { close: () => clearInterval(mark) });
    const queues = await stack.open('queues', () => createQueues(redis.producer, prefix, layout.count));
    // Each recipient's quota use, published to Redis on every archive write for the ingest's check (issue 14).
    const usage = createUsageMirror({ redis: redis.producer, prefix, tagOf: shardTagOf(queues.store), archive: sharded.archive, logger });
    const mirrored = (a: ArchiveStore): ArchiveStore => mirrorWrites(a, usage, logger);
    const archive = mirrored(sharded.archive);
    const shredOne = (jid: string): ShredReport => shred({ archive, directory, logger, metrics }, jid);
    // The operator's `sealpost shred` comes here, MAC'd with a key only master-key holders derive.
    const keys = await deploymentKeys(c.stores, logger);
    const busOptions = { producer: redis.producer, url: c.redis.url, cluster: c.redis.cluster, prefix, logger };
    const opsBus = stack.push('ops bus', createOpsBus({ ...busOptions, macKey: keys.requestBus }));
    await stack.open('shred requests', () => serveShredRequests({ bus: opsBus, redis: redis.producer, prefix, shred: shredOne, owns: (jid) => ownsUser(sharded, jid), logger }), (stop) => stop());
    // A worker-only process takes a resource of its own and never sends available presence, so
    // submissions to the bare JID keep going to the ingest; its deliveries' receipts come back to it.
    const resource = roles.has('ingest') ? c.xmpp.resource : `${c.xmpp.resource}-w${process.pid}`;
    const conn = await stack.open('xmpp', () => connectXmpp({ ...c.xmpp, resource, onConflict: 'stop', logger }), (x) => x.stop());
    const timing = options.delivery === undefined ? {} : { timing: options.delivery };
    const delivery = stack.push(
      'delivery',
      createDelivery({ redis: redis.producer, prefix, queues: queues.deliver, archive, metrics, logger, ...c.delivery, ...timing }),
    );
    // Ingest and worker nodes talk over the request bus (MAC key from the master key); serve owns all.
    const bus = serve ? undefined : stack.push('request bus', openRequestBus({ ...c.redis, publisher: redis.producer, node: `${node}-${role}-${process.pid}`, macKey: opener.busMacKey(), logger }));
    // Receipts are recorded where the user's shard runs: a worker node forwards one for a shard it
    // does not hold (any more) to the owner, and the ingest (a killed node's receipts reach the
    // vault's bare JID) forwards every one.
    const receiptRoute = bus === undefined ? {} : { route: { bus, shardOf: (jid: string) => shardOf(jid, layout.count) } };
    if (roles.has('worker') || bus !== undefined) stack.push('receipts', registerReceipts({ conn, ...(roles.has('worker') ? { delivery } : {}), ...receiptRoute, logger }));
    const now = options.retentionClock ?? Date.now;
    const sweepDeps = { notify: (n: ExpiredMessageNotice) => conn.send(expiryNoticeStanza(n)), transitTtlSeconds: c.retention.transitTtlSeconds, now, logger, metrics };
    const shardDeps = { opener, sharded, mirrored, usage, connection: redis.worker, prefix, conn, quota: c.quota, delivery, store: queues.store, logger, metrics };
    if (serve) {
      // Every job of serve is added here: a shard's workers run only while its queues have work.
      const onDemand = { store: queues.store, deliver: queues.deliver, idleMs: SHARD_WORKER_IDLE_MS, pollMs: SHARD_WORKER_POLL_MS };
      const host = stack.push('shards', createShardHost({ ...shardDeps, onDemand, dirOf: (k) => layout.dir(k) }));
      for (let k = 0; k < layout.count; k++) await host.start(k, ownEveryShard(k, node));
    } else if (roles.has('worker') && bus !== undefined) {
      const nodeOptions = { ...shardDeps, node, roots: c.shards.roots, ttlMs, producer: redis.producer, worker: redis.worker, bus, redisNameKey: keys.redisNames, registryKey: keys.nodeRegistry };
      await stack.open('worker node', () => startWorkerNode({ ...nodeOptions, directory: c.directory, mam: c.mam, upload: c.upload, sweep: sweepDeps }));
    }
    const sweeper = { producer: redis.producer, worker: roles.has('worker') ? redis.worker : undefined, now, sweep: sweepAll({ sharded, bus, logger }) };
    const retention = await stack.open('retention', () =>
      registerRetention({ ...c.retention, ...sweeper, conn, prefix, archive, directory, logger, metrics }),
    );
    // Key IQs, submissions, MAM, retention and uploads answer only the served domains (issue 14).
    const served = servedOnly(conn, c.presence.allowedDomains);
    const shardOfUser = (jid: string): number => shardOf(jid, layout.count);
    // Uploads: serve answers slots and serves blobs itself; an ingest is the one public front that
    // passes each request to the listener of the file's shard owner (README "Scaling out").
    const front = { ...c.upload, count: layout.count, ownerUrl: ownerListeners(redisLeaseStore(redis.producer, prefix), nodeRegistry(redis.producer, prefix, keys.nodeRegistry)), logger };
    const upload = serve
      ? await stack.open('upload', () => registerUpload({ ...c.upload, conn: served, archive, shardOf: shardOfUser, logger }))
      : roles.has('ingest')
        ? await stack.open('upload front', () => registerUploadFront(front))
        : undefined;
    if (roles.has('ingest')) {
      stack.push('disco', registerDisco({ conn, extensions: upload === undefined ? [] : [uploadDisco(c.upload.limits.maxFileBytes)] }));
      if (bus === undefined) {
        stack.push('mam', registerMam({ conn: served, archive, limits: archive.limits, ...c.mam, redis: redis.producer, prefix, redisNameKey: keys.redisNames, logger }));
        stack.push('directory', registerDirectory({ conn: served, store: directory, redis: redis.producer, prefix, redisNameKey: keys.redisNames, ...c.directory, logger, metrics }));
      } else stack.push('routing', { close: registerForwarding({ conn: served, bus, shardOf: shardOfUser, logger, ...(upload === undefined ? {} : { uploadBase: () => upload.publicUrl }) }) });
      const hooks =
        bus === undefined
          ? deviceAnnouncements({ keys: directory, registry: delivery.registry, listener: delivery, logger })
          : forwardPresence({ bus, shardOf: shardOfUser, logger });
      stack.push('presence', registerPresence({ conn, ...c.presence, logger, hooks }));
      const submissions = { store: queues.store, redis: redis.producer, prefix, redisNameKey: keys.redisNames, limits: c.ingest, quota: c.quota, directory: bus === undefined ? directory : undefined };
      stack.push('submissions', registerSubmissions({ ...submissions, conn: served, logger, metrics }));
      await stack.open('initial presence', () => registerInitialPresence({ conn, logger }));
    }
    const watched = {
      depths: { store: queues.store, deliver: queues.deliver },
      dashboard: [...queues.store.shards, ...queues.deliver.shards, retention.queue],
    };
    const ops =
      options.ops === false || c.ops.port === 0
        ? undefined
        : await stack.open('ops', () => registerOps({ ...c.ops, ...watched, conn, redis: redis.producer, metrics, logger }));
    logger.info({ module: 'main', vault: vaultBareJid(config), jid: conn.jid, roles: [...roles], node, shards: layout.count, ops: ops?.url }, 'sealpost service running');
    return { config, conn, archive, directory, queues, metrics, ops, delivery, retention, upload, shred: shredOne, stop: () => stack.close() };
  } catch (err) {
    await stack.close().catch(() => undefined); // what was opened; the start error is the one to report
    throw err;
  }
}

/** True when the user's shard runs here (false for a JID that does not parse: nobody owns it). */
function ownsUser(sharded: ShardedStores, jid: string): boolean {
  try {
    return sharded.of(jid) !== undefined;
  } catch {
    return false;
  }
}

/** `sealpost serve`'s lease of shard k: the next epoch under its node id, never expiring (no lease store). */
function ownEveryShard(shard: number, node: string): (current: FenceState) => Lease {
  return (cur) => ({ shard, node, epoch: cur.epoch + 1, expiresAt: Number.POSITIVE_INFINITY });
}

/** `node src/main.ts`-style entry: every role, SIGTERM/SIGINT stop gracefully. */
export async function runFromEnv(roles?: readonly Role[]): Promise<void> {
  const service = await startService(loadConfig(), roles === undefined ? {} : { roles });
  const exit = (code: number): void =>
    void service.stop().then(
      () => process.exit(code),
      () => process.exit(1),
    );
  const onSignal = (signal: NodeJS.Signals): void => {
    exit(0);
    process.stderr.write(`received ${signal}, shutting down\n`);
  };
  // Another process took this vault resource: both reconnecting would replace each other for ever.
  service.conn.on('conflict', (err) => {
    process.stderr.write(`sealpost: ${err.message}; not reconnecting: give each process its own SEALPOST_VAULT_RESOURCE\n`);
    exit(1);
  });
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  runFromEnv().catch((err: unknown) => {
    process.stderr.write(`sealpost: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
