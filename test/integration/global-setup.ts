// vitest globalSetup for the integration project: starts Redis (found or private) and a private
// Prosody once per run, hands their coordinates to tests through provide/inject, and stops them
// afterwards. localdev's exit hooks also clean up when the run is interrupted.
import type { TestProject } from 'vitest/node';
import { ensureLocalServices, type LocalServices } from '../../src/localdev/index.js';
import { createLogger } from '../../src/log/index.js';
import type { LocalServicesInfo } from './helpers.js';

let running: LocalServices | undefined;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const logger = createLogger({
    name: 'localdev',
    level: process.env.SEALPOST_TEST_LOG_LEVEL ?? 'info',
  });
  const started = Date.now();
  running = await ensureLocalServices({ logger, smacksHibernationSeconds: 10 });
  const { prosody, redisUrl } = running;
  logger.info(
    { ms: Date.now() - started, xmpp: prosody.service, redis: redisUrl.replace(/\/\/[^@]*@/, '//***@') },
    'integration services ready',
  );
  const info: LocalServicesInfo = {
    redisUrl,
    xmpp: {
      service: prosody.service,
      domain: prosody.domain,
      host: prosody.host,
      port: prosody.port,
      dataDir: prosody.dataDir,
      configPath: prosody.configPath,
      logPath: prosody.logPath,
    },
  };
  project.provide('localServices', info);
  return async () => {
    await running?.stop();
    running = undefined;
  };
}
