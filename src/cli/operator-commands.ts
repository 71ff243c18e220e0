// Operator commands on the service host (same environment as `sealpost serve`): `status` (queue
// depths, failed jobs, pending per user, archive sizes), `retry failed`, `shred <jid>` (through
// the running service, or `--offline` on a data dir no service holds). They open the encrypted
// stores or derive keys from the master key; none of them prints a key or a payload.
import { statSync } from 'node:fs';
import type { Command } from 'commander';
import { configSlices, loadConfig } from '../config/index.js';
import { createLogger, type Logger } from '../log/index.js';
import { deploymentKeys, openStores, takeDataDirOffline } from '../stores/index.js';
import { connectRedis, createOpsBus, createQueues, requestShred, requestSweep, retentionQueue, retryFailed, shred, type ShredReport } from '../workers/index.js';
import { AppError, ErrorCode } from '../errors/index.js';
import { parseJid } from '../xmpp/index.js';
import { print, table, type Output } from './output.js';
import { ExitError } from './shard-commands.js';

function quietLogger() {
  return createLogger({ level: process.env.SEALPOST_LOG_LEVEL ?? 'warn', destination: process.stderr });
}

function fileSize(path: string): number {
  let n = 0;
  for (const suffix of ['', '-wal', '-shm']) {
    try {
      n += statSync(path + suffix).size;
    } catch {
      // absent
    }
  }
  return n;
}

type Slices = ReturnType<typeof configSlices>;

/** The running service shreds (issue 14, attack 8): it closes its handle on the user's archive first. */
async function shredThroughService(config: Slices, logger: Logger, jid: string, timeoutMs: number): Promise<ShredReport> {
  const keys = await deploymentKeys(config.stores, logger);
  const redis = await connectRedis(config.redis, logger);
  const { url, cluster, prefix } = config.redis;
  const bus = createOpsBus({ producer: redis.producer, url, cluster, prefix, macKey: keys.requestBus, logger });
  try {
    return await requestShred(bus, jid, timeoutMs);
  } finally {
    await bus.close();
    await redis.close();
  }
}

/** Shreds on the data dir itself, holding it exclusively: refused (exit code 3) while a service runs on it. */
async function shredOffline(config: Slices, logger: Logger, jid: string): Promise<ShredReport> {
  let hold;
  try {
    hold = takeDataDirOffline(config.stores.dataDir);
  } catch (err) {
    if (AppError.is(err, ErrorCode.Unavailable)) throw new ExitError(err.message, 3);
    throw err;
  }
  try {
    const { archive, directory } = await openStores(config.stores, logger, 'borrow');
    try {
      return shred({ archive, directory, logger }, jid);
    } finally {
      archive.close();
      directory.close();
    }
  } finally {
    hold.release();
  }
}

export function operatorCommands(program: Command, out: Output): void {
  program
    .command('status')
    .description('queue depths, failed jobs, pending messages per user and archive sizes')
    .option('--json', 'print JSON')
    .option('--users <n>', 'list at most this many users', (v) => Number.parseInt(v, 10), 50)
    .action(async (flags: { json?: boolean; users: number }) => {
      const config = configSlices(loadConfig());
      const logger = quietLogger();
      const redis = await connectRedis(config.redis, logger);
      const queues = createQueues(redis.producer, config.redis.prefix, config.redis.shardCount);
      const { archive, close } = await openStores(config.stores, logger, 'borrow');
      try {
        const counts = {
          store: await queues.store.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed'),
          deliver: await queues.deliver.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed'),
        };
        const users = archive.listUsers({ limit: flags.users }).map((u) => ({
          jid: u.jid,
          pending: archive.pendingCounts(u.jid).messages,
          pendingBytes: archive.pendingCounts(u.jid).bytes,
          archiveBytes: fileSize(archive.userPath(u.jid)),
        }));
        if (flags.json) out.result(JSON.stringify({ queues: counts, users }));
        else {
          print(out, false, { 'store queue': counts.store, 'deliver queue': counts.deliver });
          out.result('');
          table(out, ['user', 'pending', 'pending bytes', 'archive bytes'], users.map((u) => [u.jid, u.pending, u.pendingBytes, u.archiveBytes]));
        }
      } finally {
        close();
        await queues.close();
        await redis.close();
      }
    });

  program
    .command('retry')
    .description('operator retries')
    .command('failed')
    .description('move every failed store and delivery job back to the queue')
    .action(async () => {
      const config = configSlices(loadConfig());
      const logger = quietLogger();
      const redis = await connectRedis(config.redis, logger);
      const queues = createQueues(redis.producer, config.redis.prefix, config.redis.shardCount);
      try {
        let store = 0;
        for (const shard of queues.store.shards) store += await retryFailed(shard);
        let deliver = 0;
        for (const shard of queues.deliver.shards) deliver += await retryFailed(shard);
        out.result(`retried ${store} store job(s) and ${deliver} delivery job(s)`);
      } finally {
        await queues.close();
        await redis.close();
      }
    });

  program
    .command('shred')
    .description("crypto-shred a user through the running service: erase the wrapped archive key, then the files, then the user's published keys")
    .argument('<jid>', "the user's bare JID")
    .option('--yes', 'confirm: shredding cannot be undone')
    .option('--offline', 'shred on the data dir directly, when no service runs on it (refused otherwise, exit code 3)')
    .option('--timeout <seconds>', 'how long to wait for the service', (v) => Number.parseInt(v, 10), 30)
    .action(async (jid: string, flags: { yes?: boolean; offline?: boolean; timeout: number }) => {
      const bare = parseJid(jid).bare;
      if (!flags.yes) throw new AppError(ErrorCode.Policy, `shredding ${bare} cannot be undone: repeat with --yes`);
      const config = configSlices(loadConfig());
      const logger = quietLogger();
      const r = flags.offline === true ? await shredOffline(config, logger, bare) : await shredThroughService(config, logger, bare, flags.timeout * 1000);
      out.result(
        `shredded ${bare}: archive key ${r.keyErased ? 'erased' : 'absent'}, ${r.filesRemoved} file(s) removed, ${r.devicesRemoved} device(s) unpublished`,
      );
    });

  program
    .command('retention')
    .description('retention sweeps')
    .command('run')
    .description('ask the running service for a retention sweep now and print what it did')
    .option('--timeout <seconds>', 'how long to wait for the sweep', (v) => Number.parseInt(v, 10), 120)
    .option('--json', 'print JSON')
    .action(async (flags: { timeout: number; json?: boolean }) => {
      const config = configSlices(loadConfig());
      const redis = await connectRedis(config.redis, quietLogger());
      const queue = retentionQueue(redis.producer, config.redis.prefix);
      try {
        const r = await requestSweep(queue, flags.timeout * 1000);
        const { now, ...counts } = r;
        print(out, flags.json, { at: new Date(now).toISOString(), ...counts });
      } finally {
        await queue.close();
        await redis.close();
      }
    });
}
