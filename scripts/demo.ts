// `npm run demo`: the whole mission on local defaults, step by step. Starts (or finds) Redis and a
// private Prosody, runs the sealpost service, a "collector" agent and three "sensor" agents; the
// sensors send readings while the collector is offline; the collector comes online and gets them;
// it pages through its encrypted history; a retention run expires an undelivered old item and
// tells its sender; finally Redis, the archive files, Prosody's storage and the logs are scanned
// for the demo's canary. Exit 0 only when every step worked and no plaintext was found.
import { randomBytes, randomUUID } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAgent, type Agent, type ExpiredMessage, type MessageHandler, type ReceivedMessage } from '../src/agent/index.js';
import { canaryForms, scanFiles, scanRedis, scanRows } from '../src/audit/index.js';
import { loadConfig } from '../src/config/index.js';
import { ensureLocalServices } from '../src/localdev/index.js';
import { createLogger } from '../src/log/index.js';
import { startService } from '../src/main.js';
import { createRedis } from '../src/workers/index.js';

const DAY = 86_400_000;
const step = (n: number, text: string): void => void process.stdout.write(`\n[${n}] ${text}\n`);
const say = (text: string): void => void process.stdout.write(`    ${text}\n`);

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'sealpost-demo-'));
  const canary = `DEMO-CANARY-${randomBytes(12).toString('hex')}`;
  const quiet = createLogger({ level: 'warn', name: 'localdev' });

  step(1, 'Local services: Redis and a private Prosody on loopback');
  const local = await ensureLocalServices({ logger: quiet });
  say(`XMPP server ${local.prosody.service} (domain ${local.prosody.domain}), Redis ${local.redisUrl.replace(/\/\/[^@]*@/, '//')}`);

  const domain = local.prosody.domain;
  const account = async (name: string): Promise<{ username: string; password: string; jid: string }> => {
    const username = `${name}-${randomUUID().slice(0, 6)}`;
    const password = randomBytes(12).toString('hex');
    await local.prosody.createAccount(username, password);
    return { username, password, jid: `${username}@${domain}` };
  };
  const vault = await account('vault');
  const collectorAccount = await account('collector');
  const maintenanceAccount = await account('maintenance');
  const sensorAccounts = await Promise.all(['sensor-1', 'sensor-2', 'sensor-3'].map(account));

  step(2, 'The sealpost service: ingest, workers, per-user encrypted archives');
  const logFile = join(work, 'service.log');
  const logStream = createWriteStream(logFile);
  let clockOffset = 0;
  const config = loadConfig({
    ...process.env,
    SEALPOST_XMPP_SERVICE: local.prosody.service,
    SEALPOST_XMPP_DOMAIN: domain,
    SEALPOST_VAULT_USER: vault.username,
    SEALPOST_VAULT_PASSWORD: vault.password,
    SEALPOST_ALLOWED_DOMAINS: domain,
    REDIS_URL: local.redisUrl,
    SEALPOST_QUEUE_PREFIX: `demo${randomUUID().slice(0, 6)}`,
    SEALPOST_DATA_DIR: join(work, 'vault-data'),
    SEALPOST_MASTER_KEY: randomBytes(32).toString('base64'),
    SEALPOST_HTTP_PORT: '0',
    SEALPOST_LOG_LEVEL: 'debug',
  });
  const service = await startService(config, {
    logger: createLogger({ level: 'debug', destination: logStream }),
    ops: false,
    retentionClock: () => Date.now() + clockOffset,
  });
  say(`vault ${service.conn.jid}; data in ${config.dataDir}; logs in ${logFile}`);

  const agents: Agent[] = [];
  const keyFileKeys = new Map<string, Buffer>(); // each device's key-file key, for its next start
  const agentFor = async (a: { username: string; password: string }, name: string, onMessage?: MessageHandler): Promise<Agent> => {
    const agent = await createAgent({
      ...(onMessage === undefined ? {} : { onMessage }),
      xmpp: { service: local.prosody.service, domain, username: a.username, password: a.password },
      vault: vault.jid,
      dir: join(work, name),
      secret: { key: new Uint8Array(keyFileKeys.get(name) ?? keyFileKeys.set(name, randomBytes(32)).get(name)!) },
    });
    agents.push(agent);
    return agent;
  };

  step(3, 'The collector publishes its keys, then goes offline');
  let collector = await agentFor(collectorAccount, 'collector');
  say(`collector ${collectorAccount.jid} device ${collector.device}, fingerprint ${collector.fingerprint}`);
  const maintenance = await agentFor(maintenanceAccount, 'maintenance');
  await collector.stop();
  await maintenance.stop();
  say('collector and maintenance are offline');

  step(4, 'Three sensors seal readings to the offline collector');
  const sensors = await Promise.all(sensorAccounts.map((a, i) => agentFor(a, `sensor-${i + 1}`)));
  const sent: string[] = [];
  for (let round = 0; round < 3; round++)
    for (const [i, sensor] of sensors.entries()) {
      const reading = JSON.stringify({ sensor: i + 1, round, heartRate: 60 + ((i * 7 + round * 3) % 30), note: canary });
      const { messageId } = await sensor.send(collectorAccount.jid, reading, { contentType: 'application/json' });
      sent.push(messageId);
    }
  say(`${sent.length} readings sealed; each send returned after the vault committed it (receipt)`);
  const stale = await sensors[2]!.send(maintenanceAccount.jid, `calibration request ${canary}`);
  say(`sensor-3 also sent ${stale.messageId} to the maintenance account, which stays offline`);
  const pending = service.archive.pendingCounts(collectorAccount.jid);
  say(`pending at the vault for the collector: ${pending.messages} message(s), ${pending.bytes} bytes of ciphertext`);

  step(5, 'The collector comes online and receives everything, verified');
  const received: ReceivedMessage[] = [];
  let allIn: () => void = () => undefined;
  const arrived = new Promise<void>((resolve) => (allIn = resolve));
  collector = await agentFor(collectorAccount, 'collector', (m) => {
    received.push(m);
    if (received.length === sent.length) allIn();
    return Promise.resolve();
  });
  await Promise.race([arrived, new Promise((_, reject) => setTimeout(() => reject(new Error('readings did not all arrive within 60 s')), 60_000))]);
  for (const m of received.slice(0, 4)) {
    const r = JSON.parse(m.text()) as { sensor: number; round: number; heartRate: number };
    say(`from ${m.from} (device ${m.device}, ${m.trust}): sensor ${r.sensor} round ${r.round} heart rate ${r.heartRate}`);
  }
  say(`... ${received.length} readings in all, each once, signatures and fingerprints checked`);

  step(6, 'The collector pages through its encrypted history (XEP-0313 queries, 4 per page)');
  let pages = 0;
  let items = 0;
  for await (const entry of collector.history({ pageSize: 4 })) {
    if (!entry.ok) throw entry.error;
    items++;
    if (items % 4 === 1) pages++;
  }
  say(`${items} history items over ${pages} pages, each opened with the collector's archive key`);

  step(7, 'Retention: 31 days later, the undelivered maintenance message expires');
  // The collector's receipts reach the vault a moment after its handler: wait until it has all of
  // them, so only the maintenance message is still undelivered when the clock jumps.
  for (let i = 0; i < 200 && service.archive.pendingCounts(collectorAccount.jid).messages > 0; i++)
    await new Promise((resolve) => setTimeout(resolve, 50));
  const expired = new Promise<ExpiredMessage>((resolve) => sensors[2]!.once('expired', resolve));
  clockOffset = 31 * DAY;
  const sweep = await service.retention.runNow();
  const notice = await Promise.race([expired, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no expiry notice')), 15_000))]);
  say(`sweep: ${sweep.expired} transit copy expired, ${sweep.purged} archive item(s) purged; sensor-3 was told that ${notice.messageId} expired`);

  step(8, `Plaintext audit: looking for the canary ${canary.slice(0, 16)}...`);
  for (const a of agents) await a.stop().catch(() => undefined);
  const forms = canaryForms(canary);
  const redis = createRedis(local.redisUrl, 'worker');
  const inRedis = await scanRedis(redis, config.queuePrefix, forms);
  await redis.quit();
  const rows = [collectorAccount.jid, maintenanceAccount.jid, ...sensorAccounts.map((s) => s.jid)].map((jid) =>
    scanRows(jid, service.archive.auditRows(jid), forms),
  );
  await service.stop();
  await new Promise<void>((resolve) => logStream.end(resolve));
  const onDisk = scanFiles([config.dataDir, local.prosody.dataDir, logFile], forms);
  const findings = [...inRedis.findings, ...rows.flatMap((r) => r.findings), ...onDisk.findings];
  say(`Redis: ${inRedis.scanned} keys; archives decrypted at rest: ${rows.reduce((n, r) => n + r.scanned, 0)} rows; files: ${onDisk.scanned} (archives, keyring, Prosody storage, logs)`);
  await local.stop();
  rmSync(work, { recursive: true, force: true });
  if (findings.length > 0) {
    for (const f of findings) say(`PLAINTEXT FOUND in ${f.where}`);
    throw new Error('the canary was found outside the agents');
  }
  say('no server-side part holds the plaintext: only the agents ever saw it');
  process.stdout.write('\nDemo complete.\n');
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`\ndemo failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
