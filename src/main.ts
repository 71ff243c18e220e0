// The composition root: reads the config once, builds every part with its dependencies, and runs
// the roles asked for (ingest, worker, or both in one process — the local default). Nothing else
// in src/ constructs another module's dependencies.
import { constants as fsConstants, mkdirSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createArchiveStore, loadMasterKey, type ArchiveStore } from './archive/index.js';
import { loadConfig, vaultBareJid, type Config } from './config/index.js';
import { openDirectoryStore, registerDirectory, type DirectoryStore } from './directory/index.js';
import { AppError, ErrorCode } from './errors/index.js';
import { deviceAnnouncements, handleSubmission, isSubmission, keyedSerializer, registerDisco, registerMam, registerPresence } from './ingest/index.js';
import { blake2b, initSodium, wipe } from './keys/index.js';
import { createLogger, type Logger } from './log/index.js';
import { createMetrics, type Metrics } from './metrics/index.js';
import { createDashboard, DASHBOARD_PATH, startOpsServer, type OpsServer } from './ops/index.js';
import { deliveryBatchStanza, deliveryStanza, expiryNoticeStanza, parseDeliveryReceipts, receiptStanza, refusalStanza, storedReceiptsStanza } from './protocol/index.js';
import { createRateLimiter } from './ratelimit/index.js';
import { claimDataRoot, dataRootId } from './shards/index.js';
import {
  checkRedisPolicy,
  createDelivery,
  type DeliverJobData,
  type DeliverJobResult,
  type Delivery,
  type DeliveryTiming,
  createQueues,
  createRedis,
  processStore,
  QUEUE,
  redisReady,
  startWorker,
  storeShardName,
  STORE_JOB_OPTIONS,
  STORE_WORKER_LOCK,
  shred,
  startRetention,
  type RetentionService,
  type ShredReport,
  type Queues,
  type Redis,
  type StoreJobData,
  type StoreQueue,
  type StoreJobResult,
  jobItems,
} from './workers/index.js';
import { connectXmpp, xml, type XmppConnection } from './xmpp/index.js';
import { registerUpload, uploadDisco, type UploadService } from './upload/index.js';

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

const DIRECTORY_KEY_LABEL = 'sealpost/v1/directory-db';

export async function connectRedis(config: Config, log: Logger): Promise<{ producer: Redis; worker: Redis }> {
  const producer = createRedis(config.redisUrl, 'producer', { connectionName: 'sealpost:producer', cluster: config.redisCluster });
  const worker = createRedis(config.redisUrl, 'worker', { connectionName: 'sealpost:worker', cluster: config.redisCluster });
  for (const r of [producer, worker]) r.on('error', (err: Error) => log.warn({ error: err.message }, 'redis connection error'));
  try {
    await redisReady(producer, 10_000);
    const policy = await checkRedisPolicy(producer).catch((err: unknown) => {
      log.warn({ error: (err as Error).message }, 'cannot check Redis maxmemory-policy');
      return undefined;
    });
    if (policy !== undefined && !policy.ok) {
      const text = `Redis maxmemory-policy is ${policy.maxmemoryPolicy}; queued jobs may be evicted (set noeviction)`;
      if (config.strict) throw new AppError(ErrorCode.Config, text);
      log.warn({ maxmemoryPolicy: policy.maxmemoryPolicy }, text);
    }
    return { producer, worker };
  } catch (err) {
    producer.disconnect();
    worker.disconnect();
    throw err;
  }
}

/**
 * Opens the encrypted stores under the data dir: the archive (per-user files, keyring) and the
 * key directory. The master key is wiped once both have derived their keys from it. Used by the
 * service and by the operator CLI (status, shred, retention) on the same host.
 */
export async function openStores(config: Config, logger: Logger): Promise<{ archive: ArchiveStore; directory: DirectoryStore }> {
  await initSodium();
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const master = await loadMasterKey(config, logger);
  try {
    const archive = await createArchiveStore({
      dir: join(config.dataDir, 'archive'),
      masterKey: master,
      cipher: config.archiveCipher,
      maxOpen: config.archiveMaxOpen,
      retentionSeconds: config.retentionSeconds,
      logger,
    });
    const directoryKey = blake2b(32, new TextEncoder().encode(DIRECTORY_KEY_LABEL), master);
    try {
      const directory = openDirectoryStore({ path: join(config.dataDir, 'directory.db'), key: directoryKey, cipher: config.archiveCipher });
      return { archive, directory };
    } catch (err) {
      archive.close();
      throw err;
    } finally {
      wipe(directoryKey);
    }
  } finally {
    wipe(master);
  }
}

/**
 * Adds a store job under its (sender, message id) job id. When a job of an earlier submission of
 * the same message still holds that id, BullMQ keeps that job and drops this one; the resend is
 * then acknowledged once that job has finished (its row is committed), so a client that matches
 * receipts by stanza id gets one too. A failed job is left to the operator (`retry failed`).
 */
export async function enqueueStore(
  queue: StoreQueue,
  jobId: string,
  data: StoreJobData,
  sendReceipt: (receipt: ReturnType<typeof receiptStanza>) => Promise<void>,
  waitMs = 10_000,
): Promise<void> {
  const job = await queue.add(QUEUE.store, data, { ...STORE_JOB_OPTIONS, jobId });
  if (job.data.stanzaId === data.stanzaId && job.data.receivedAt === data.receivedAt) return; // ours
  // Wait in the background: the sender's next submissions must not queue behind this one.
  void (async () => {
    const deadline = Date.now() + waitMs;
    let state = await job.getState();
    while (state !== 'completed' && state !== 'unknown' && state !== 'failed' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      state = await job.getState();
    }
    // Completed jobs are removed at once, so 'unknown' here means the earlier one finished.
    // A batch job (issue 9) answers for every item in it.
    if (state === 'completed' || state === 'unknown')
      await sendReceipt(storedReceiptsStanza(data.replyTo, data.stanzaId, jobItems(data).map((i) => i.messageId)));
  })().catch(() => undefined); // no receipt: the sender resends
}

/** Builds and starts the service; resolves once it is online and taking work. */
export async function startService(config: Config, options: StartOptions = {}): Promise<Service> {
  const roles = new Set<Role>(options.roles ?? ['ingest', 'worker']);
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const log = logger.child({ module: 'main' });
  const metrics = createMetrics();
  const { archive, directory } = await openStores(config, logger);

  const redis = await connectRedis(config, log).catch((err: unknown) => {
    archive.close();
    directory.close();
    throw err;
  });
  // One data root per deployment (issue 15): a process on another data dir would split users.
  await claimDataRoot(redis.producer, config.queuePrefix, dataRootId(config.dataDir), config.dataDir).catch(async (err: unknown) => {
    await Promise.all([redis.producer.quit().catch(() => undefined), redis.worker.quit().catch(() => undefined)]);
    archive.close();
    directory.close();
    throw err;
  });
  const queues = createQueues(redis.producer, config.queuePrefix, config.storeShards);
  // A worker-only process is one more connection of the vault account: it takes a resource of its
  // own (two sessions on one resource would keep replacing each other) and never sends available
  // presence, so submissions to the bare JID keep going to the ingest. Receipts for its deliveries
  // come back to its full JID.
  const workerOnly = !roles.has('ingest');
  const conn = await connectXmpp({
    service: config.xmppService,
    domain: config.xmppDomain,
    username: config.vaultUser,
    password: config.vaultPassword,
    resource: workerOnly ? `${config.vaultResource}-w${process.pid}` : config.vaultResource,
    onConflict: 'stop',
    logger,
  }).catch(async (err: unknown) => {
    await queues.close().catch(() => undefined);
    redis.producer.disconnect();
    redis.worker.disconnect();
    archive.close();
    directory.close();
    throw err;
  });
  log.info({ jid: conn.jid, roles: [...roles] }, 'vault connected');

  // Delivery (issue 6). Receipts come back to the connection that sent the delivery: this one,
  // in any role (a worker process with its own vault resource gets its own devices' receipts).
  const delivery = createDelivery({
    redis: redis.producer,
    prefix: config.queuePrefix,
    queue: queues.deliver,
    archive,
    metrics,
    logger,
    window: config.deliveryWindow,
    ...(options.delivery === undefined ? {} : { timing: options.delivery }),
  });
  conn.on('stanza', (stanza) => {
    // One stanza may carry the receipts for a whole delivery batch: one archive commit for them all.
    const rs = parseDeliveryReceipts(stanza);
    const first = rs[0];
    if (first === undefined) return;
    const from = { jid: first.from.bare, resource: first.from.resource };
    (rs.length === 1
      ? delivery.receipt({ ...from, sender: first.sender, messageId: first.messageId })
      : delivery.receipts({ ...from, receipts: rs.map((r) => ({ sender: r.sender, messageId: r.messageId })) })
    ).catch((err: unknown) => log.warn({ error: (err as Error).message }, 'receipt handling failed'));
  });

  const workers: { close(): Promise<void> }[] = [];
  if (roles.has('worker')) {
    // One worker per store shard, one job at a time: each recipient's submissions are committed
    // in the order they arrived (per-sender order, invariant 3); shards run in parallel.
    for (const [i] of queues.store.shards.entries())
      workers.push(
        startWorker<StoreJobData, StoreJobResult>({
          name: storeShardName(i),
          connection: redis.worker,
          prefix: config.queuePrefix,
          concurrency: 1,
          lock: STORE_WORKER_LOCK,
          logger,
          metrics,
          process: (job) =>
            processStore(job, {
              archive,
              quota: config,
              logger: logger.child({ module: 'store' }),
              metrics,
              notifier: {
                receipt: (j) => conn.send(receiptStanza(j.replyTo, j.stanzaId, j.messageId)),
                refused: (j, err) => conn.send(refusalStanza(j.replyTo, j.stanzaId, j.messageId, err)),
                receipts: (j, ids) => conn.send(storedReceiptsStanza(j.replyTo, j.stanzaId, ids)),
              },
              // Committed: an available device gets it now; one offline gets it at its next presence.
              listener: delivery,
            }),
        }),
      );
    workers.push(
      startWorker<DeliverJobData, DeliverJobResult>({
        name: QUEUE.deliver,
        connection: redis.worker,
        prefix: config.queuePrefix,
        // Jobs mostly wait for receipts; each holds at most `deliveryWindow` copies in flight.
        concurrency: 64,
        logger,
        metrics,
        process: delivery.processor({
          send: (to, copy) => conn.send(deliveryStanza(to, conn.bareJid, copy)),
          sendMany: (to, copies) => conn.send(deliveryBatchStanza(to, conn.bareJid, copies)),
        }),
      }),
    );
  }

  // Retention (issue 7): the repeatable sweep is registered by every process (idempotent);
  // it runs where workers run. Senders learn of expired messages by a notice to their bare JID.
  const retention = await startRetention({
    producer: redis.producer,
    ...(roles.has('worker') ? { worker: redis.worker } : {}),
    prefix: config.queuePrefix,
    cron: config.retentionCron,
    deps: {
      archive,
      directory,
      notify: (n) => conn.send(expiryNoticeStanza(n)),
      transitTtlSeconds: config.transitTtlSeconds,
      now: options.retentionClock ?? Date.now,
      logger,
      metrics,
    },
  });

  const upload = roles.has('ingest')
    ? await registerUpload({ conn, archive, limits: config, host: config.uploadHost, port: config.uploadPort, publicUrl: config.uploadPublicUrl, transitTtlSeconds: config.transitTtlSeconds, sweepSeconds: config.uploadSweepSeconds, logger })
    : undefined;
  if (roles.has('ingest')) {
    registerDisco(conn, undefined, [uploadDisco(config.maxFileBytes)]);
    registerMam({ conn, archive, limits: archive.limits, globalRetentionSeconds: config.retentionSeconds, logger });
    registerPresence({
      conn,
      allowedDomains: config.allowedDomains,
      logger,
      hooks: deviceAnnouncements({
        keys: directory,
        registry: delivery.registry,
        listener: delivery,
        logger,
      }),
    });
    registerDirectory({
      conn,
      store: directory,
      claimLimiter: createRateLimiter(redis.producer, `${config.queuePrefix}:rl:claim`, {
        capacity: config.claimBurst,
        perMinute: config.claimRatePerMinute,
      }),
      lookupLimiter: createRateLimiter(redis.producer, `${config.queuePrefix}:rl:lookup`, {
        capacity: config.lookupBurst,
        perMinute: config.lookupRatePerMinute,
      }),
      targetLimiter: createRateLimiter(redis.producer, `${config.queuePrefix}:rl:claim-target`, {
        capacity: config.claimTargetBurst,
        perMinute: config.claimTargetRatePerMinute,
      }),
      limits: config,
      logger,
      metrics,
    });
    const senderLimiter = createRateLimiter(redis.producer, `${config.queuePrefix}:rl:submit`, {
      capacity: Math.max(1, Math.ceil(config.senderRatePerMinute / 6)),
      perMinute: config.senderRatePerMinute,
    });
    const ingestLog = logger.child({ module: 'ingest' });
    const perSender = keyedSerializer();
    conn.on('stanza', (stanza) => {
      if (!isSubmission(stanza)) return;
      const from = typeof stanza.attrs.from === 'string' ? stanza.attrs.from.split('/')[0] ?? '' : '';
      perSender(from, () => handleSubmission(stanza, {
        conn,
        directory,
        senderLimiter,
        logger: ingestLog,
        metrics,
        limits: { ...config, maxPayloadBytes: config.maxPayloadBytes, maxOpksPerUpload: config.maxOneTimePrekeys, maxItemsPerStanza: 64 },
        queue: {
          enqueue: (jobId, data) => enqueueStore(queues.store.for(data.recipient), jobId, data, (receipt) => conn.send(receipt)),
        },
      })).catch((err: unknown) => ingestLog.error({ err }, 'submission handling failed'));
    });
    // Initial presence: the XMPP server flushes submissions it kept while the vault was down.
    await conn.send(xml('presence', {}, xml('priority', {}, '1')));
    // A new session after a reconnect (the server restarted; a resumed one keeps its presence) is
    // unavailable until it says otherwise: without this, submissions went to offline storage and
    // agents' announcements were dropped until the service restarted (seen in the fault tests).
    conn.on('online', () => {
      conn.send(xml('presence', {}, xml('priority', {}, '1'))).catch((err: unknown) => log.warn({ error: (err as Error).message }, 'presence after reconnect not sent'));
    });
  }

  const ops =
    options.ops === false || config.httpPort === 0
      ? undefined
      : await startOpsServer({
          host: config.httpHost,
          port: config.httpPort,
          metrics,
          logger,
          checks: {
            xmpp: () => Promise.resolve(conn.status === 'online'),
            redis: async () => (await redis.producer.ping()) === 'PONG',
            archive: async () => {
              await access(config.dataDir, fsConstants.W_OK);
              return true;
            },
          },
          beforeScrape: async () => {
            for (const [name, queue] of [['store', queues.store], ['deliver', queues.deliver]] as const) {
              const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed');
              for (const [state, n] of Object.entries(counts)) metrics.queueDepth.set({ queue: name, state }, n);
            }
          },
          ...(config.opsToken === undefined
            ? {}
            : { mounts: { [DASHBOARD_PATH]: createDashboard([...queues.store.shards, queues.deliver, retention.queue], config.opsToken) } }),
        });

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      log.info('stopping: no new work, finishing running jobs');
      delivery.shutdown(); // delivery jobs end at once; their unacknowledged copies stay pending
      await Promise.all(workers.map((w) => w.close()));
      await retention.close();
      await upload?.close();
      await conn.stop();
      await ops?.close();
      await queues.close();
      await Promise.all([redis.producer.quit().catch(() => undefined), redis.worker.quit().catch(() => undefined)]);
      directory.close();
      archive.close();
      log.info('stopped');
    })());

  log.info({ vault: vaultBareJid(config), ops: ops?.url }, 'sealpost service running');
  return {
    config,
    conn,
    archive,
    directory,
    queues,
    metrics,
    ops,
    delivery,
    retention,
    upload,
    shred: (jid) => shred({ archive, directory, logger, metrics }, jid),
    stop,
  };
}

/** `node src/main.ts`-style entry: every role, SIGTERM/SIGINT stop gracefully. */
export async function runFromEnv(roles?: readonly Role[]): Promise<void> {
  const config = loadConfig();
  const service = await startService(config, roles === undefined ? {} : { roles });
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
