// `sealpost serve` on a data dir of the single layout of earlier versions (issue 15): the archive
// (`<data>/archive`) and key directory (`<data>/directory.db`) written as that version wrote them
// are migrated to shards at the first start: every user's pending and history items are in its
// shard and answered, the directory keeps the server key agents pinned, the old files are kept
// aside, and a second start migrates nothing again.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createArchiveStore } from '../../src/archive/index.js';
import { loadConfig } from '../../src/config/index.js';
import { openDirectoryStore } from '../../src/directory/index.js';
import { blake2b, fromBase64, initSodium } from '../../src/keys/index.js';
import { silentLogger } from '../../src/log/index.js';
import { startService } from '../../src/main.js';
import { presentShards, shardOf } from '../../src/shards/index.js';
import { incoming } from '../unit/archive/helpers.js';
import { startAgent, testServiceEnv } from './service-fixture.js';

describe('migration of a single-layout data dir', () => {
  it('moves every user into its shard at the first serve, keeps the pinned server key and the old files aside, and runs once', async () => {
    await initSodium();
    const se = await testServiceEnv({ SEALPOST_SHARD_COUNT: '8' });
    const master = fromBase64('master', se.env.SEALPOST_MASTER_KEY, 32);
    const domain = se.env.SEALPOST_XMPP_DOMAIN as string;
    const users = Array.from({ length: 6 }, (_, i) => `old${i}@${domain}`);

    // The single layout, written by the stores as the earlier version opened them.
    const directory = openDirectoryStore({ path: join(se.dataDir, 'directory.db'), key: blake2b(32, new TextEncoder().encode('sealpost/v1/directory-db'), master), cipher: 'chacha20' });
    const oldServerKey = directory.serverPublicKey;
    directory.close();
    const archive = await createArchiveStore({ dir: join(se.dataDir, 'archive'), masterKey: master, cipher: 'chacha20' });
    users.forEach((u, i) => archive.storeIncomingMany(u, Array.from({ length: i + 1 }, (_, n) => incoming(`alice@${domain}`, `${u}-m${n}`))));
    archive.close();

    const start = async () => {
      const service = await startService(loadConfig(se.env), { ops: false, logger: silentLogger() });
      onTestFinished(() => service.stop());
      return service;
    };
    const service = await start();
    expect(existsSync(join(se.dataDir, 'pre-shards', 'archive', 'keyring.db'))).toBe(true);
    expect(existsSync(join(se.dataDir, 'archive'))).toBe(false);
    expect(JSON.parse(readFileSync(join(se.dataDir, 'shards', 'layout.json'), 'utf8'))).toEqual({ version: 1, count: 8, serverKey: 'stored' });
    expect(presentShards(join(se.dataDir, 'shards'), 8)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(Buffer.from(service.directory.serverPublicKey).equals(Buffer.from(oldServerKey))).toBe(true);
    for (const [i, u] of users.entries()) {
      expect(service.archive.pendingCounts(u).messages).toBe(i + 1);
      expect(service.archive.query(u, { max: 50 }).items.map((x) => x.messageId)).toEqual(Array.from({ length: i + 1 }, (_, n) => `${u}-m${n}`));
      // Its files are in its own shard's directory only.
      const hash = service.archive.userHash(u);
      for (let k = 0; k < 8; k++) expect(existsSync(join(se.dataDir, 'shards', String(k), 'archive', 'users', `${hash}.db`))).toBe(k === shardOf(u, 8));
    }
    // A new agent publishes and checks the countersignature with the key the directory kept.
    const alice = await startAgent({ vault: se.vault }, 'alice');
    expect(service.directory.devices(alice.account.jid)).toHaveLength(1);
    await alice.agent.stop();
    await service.stop();

    const again = await start();
    expect(again.archive.pendingCounts(users[5] as string).messages).toBe(6);
    expect(existsSync(join(se.dataDir, 'archive'))).toBe(false);
    expect(Buffer.from(again.directory.serverPublicKey).equals(Buffer.from(oldServerKey))).toBe(true);
  });
});
