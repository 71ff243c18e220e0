// The composition root: it only wires (issue 13, in the manner of xmpp.js's client/index.js). Each
// part opens through one cleanup stack, so a failed start step and stop() close exactly what was
// opened, newest first; each surface registers itself from its own folder with its config slice.
// It runs the roles asked for: ingest, worker, or both in one process (the local default).
import { pathToFileURL } from 'node:url';
import type { ArchiveStore } from './archive/index.js';
import { configSlices, loadConfig, vaultBareJid, type Config } from './config/index.js';
import { registerDirectory, type DirectoryStore } from './directory/index.js';
import { deviceAnnouncements, servedOnly, registerDisco, registerInitialPresence, registerMam, registerPresence, registerReceipts, registerSubmissions } from './ingest/index.js';
import { cleanupStack } from './lifecycle/index.js';
import { createLogger, type Logger } from './log/index.js';
import { createMetrics, type Metrics } from './metrics/index.js';
import { registerOps, type OpsServer } from './ops/index.js';
import { createUsageMirror, mirrorWrites, shardTagOf } from './quota/index.js';
import { claimDataRoot, dataRootId } from './shards/index.js';
import { deploymentKeys, holdDataDir, openStores } from './stores/index.js';
import { registerUpload, uploadDisco, type UploadService } from './upload/index.js';
import { connectRedis, createDelivery, createOpsBus, createQueues, registerDeliverWorker, registerRetention, registerStoreWorkers, serveShredRequests, shred } from './workers/index.js';
import type { Delivery, DeliveryTiming, Queues, RetentionService, ShredReport } from './workers/index.js';
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
  const c = configSlices(config);
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const metrics = createMetrics();
  const stack = cleanupStack(logger);
  try {
    // A shared hold on the data dir: an offline `sealpost shred` refuses to run beside us (issue 14).
    await stack.open('data dir hold', () => holdDataDir(c.stores.dataDir), (hold) => hold.release());
    const stores = await stack.open('stores', () => openStores(c.stores, logger));
    const { directory } = stores;
    const redis = await stack.open('redis', () => connectRedis(c.redis, logger));
    const { prefix } = c.redis;
    // One data root per deployment (issue 15): a process on another data dir would split users.
    await claimDataRoot(redis.producer, prefix, dataRootId(c.stores.dataDir), c.stores.dataDir);
    const queues = await stack.open('queues', () => createQueues(redis.producer, prefix, c.redis.storeShards));
    // Each recipient's quota use, published to Redis on every archive write for the ingest's check (issue 14).
    const usage = createUsageMirror({ redis: redis.producer, prefix, tagOf: shardTagOf(queues.store), archive: stores.archive, logger });
    const archive = mirrorWrites(stores.archive, usage, logger);
    const shredOne = (jid: string): ShredReport => shred({ archive, directory, logger, metrics }, jid);
    // The operator's `sealpost shred` comes here, MAC'd with a key only master-key holders derive.
    const keys = await deploymentKeys(c.stores, logger);
    const bus = { producer: redis.producer, url: c.redis.url, cluster: c.redis.cluster, prefix, logger };
    const opsBus = stack.push('ops bus', createOpsBus({ ...bus, macKey: keys.requestBus }));
    await stack.open('shred requests', () => serveShredRequests({ bus: opsBus, redis: redis.producer, prefix, shred: shredOne, logger }), (stop) => stop());
    // A worker-only process takes a resource of its own and never sends available presence, so
    // submissions to the bare JID keep going to the ingest; its deliveries' receipts come back to it.
    const resource = roles.has('ingest') ? c.xmpp.resource : `${c.xmpp.resource}-w${process.pid}`;
    const conn = await stack.open('xmpp', () => connectXmpp({ ...c.xmpp, resource, onConflict: 'stop', logger }), (x) => x.stop());
    const timing = options.delivery === undefined ? {} : { timing: options.delivery };
    const delivery = stack.push(
      'delivery',
      createDelivery({ redis: redis.producer, prefix, queue: queues.deliver, archive, metrics, logger, ...c.delivery, ...timing }),
    );
    stack.push('receipts', registerReceipts({ conn, delivery, logger }));
    const workers = { connection: redis.worker, prefix, logger, metrics };
    if (roles.has('worker')) {
      const shards = { storeShards: c.redis.storeShards, quota: c.quota, usage };
      stack.push('store workers', registerStoreWorkers({ ...workers, ...shards, conn, archive, listener: delivery }));
      stack.push('deliver worker', registerDeliverWorker({ ...workers, conn, delivery }));
    }
    const sweeper = { producer: redis.producer, worker: roles.has('worker') ? redis.worker : undefined, now: options.retentionClock ?? Date.now };
    const retention = await stack.open('retention', () =>
      registerRetention({ ...c.retention, ...sweeper, conn, prefix, archive, directory, logger, metrics }),
    );
    // Key IQs, submissions, MAM, retention and uploads answer only the served domains (issue 14).
    const served = servedOnly(conn, c.presence.allowedDomains);
    const upload = roles.has('ingest') ? await stack.open('upload', () => registerUpload({ ...c.upload, conn: served, archive, logger })) : undefined;
    if (roles.has('ingest')) {
      stack.push('disco', registerDisco({ conn, extensions: [uploadDisco(c.upload.limits.maxFileBytes)] }));
      stack.push('mam', registerMam({ conn: served, archive, limits: archive.limits, ...c.mam, redis: redis.producer, prefix, redisNameKey: keys.redisNames, logger }));
      const hooks = deviceAnnouncements({ keys: directory, registry: delivery.registry, listener: delivery, logger });
      stack.push('presence', registerPresence({ conn, ...c.presence, logger, hooks }));
      stack.push('directory', registerDirectory({ conn: served, store: directory, redis: redis.producer, prefix, redisNameKey: keys.redisNames, ...c.directory, logger, metrics }));
      const submissions = { store: queues.store, redis: redis.producer, prefix, redisNameKey: keys.redisNames, limits: c.ingest, quota: c.quota };
      stack.push('submissions', registerSubmissions({ ...submissions, conn: served, directory, logger, metrics }));
      await stack.open('initial presence', () => registerInitialPresence({ conn, logger }));
    }
    const watched = {
      depths: { store: queues.store, deliver: queues.deliver },
      dashboard: [...queues.store.shards, queues.deliver, retention.queue],
    };
    const ops =
      options.ops === false || c.ops.port === 0
        ? undefined
        : await stack.open('ops', () => registerOps({ ...c.ops, ...watched, conn, redis: redis.producer, metrics, logger }));
    logger.info({ module: 'main', vault: vaultBareJid(config), jid: conn.jid, roles: [...roles], ops: ops?.url }, 'sealpost service running');
    return { config, conn, archive, directory, queues, metrics, ops, delivery, retention, upload, shred: shredOne, stop: () => stack.close() };
  } catch (err) {
    await stack.close().catch(() => undefined); // what was opened; the start error is the one to report
    throw err;
  }
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
