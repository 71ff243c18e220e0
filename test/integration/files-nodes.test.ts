// Files through a scale-out deployment (issue 15 with issue 17): `sealpost ingest` in this process
// and two `sealpost worker` processes on their own data roots. The slot request is routed to the
// recipient's shard owner, the blob is stored in that shard's directory on the owner's root, and
// the URL agents get is the ingest's one upload front, which passes each request to the current
// owner: after the owner is killed (kill -9) and its shards are taken over by the node that
// reaches its root, the same URL still serves the file; saved files equal the originals.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { SavedFile } from '../../src/agent/index.js';
import { NS } from '../../src/protocol/namespaces.js';
import { xml } from '../../src/xmpp/index.js';
import { waitUntil } from './fault-fixture.js';
import { blobsOn, randomFile, sha256Of, tempDir } from './files-fixture.js';
import { connectFreshAccount } from './helpers.js';
import { nodeCluster, recipientsOnBothNodes } from './nodes-fixture.js';
import { startAgent, type TestAgent } from './service-fixture.js';
import { readFileSync } from 'node:fs';

async function saveOne(to: TestAgent, out: string): Promise<SavedFile> {
  const saved: SavedFile[] = [];
  await to.reopen({
    onMessage: async (m) => {
      if (m.file() !== undefined) saved.push(await m.saveTo(join(out, `${to.account.username}.bin`)));
    },
  });
  await expect.poll(() => saved.length, { timeout: 60_000 }).toBe(1);
  return saved[0] as SavedFile;
}

describe('files through ingest and worker nodes', () => {
  it('sends and saves files for users on either node, through one upload URL that follows a shard taken over', async () => {
    const { ts, roots, nodes, holderOf } = await nodeCluster();
    // The ingest advertises the upload service (XEP-0363 §4) like a single process.
    const { conn } = await connectFreshAccount('disco');
    const disco = await conn.sendReceive(xml('iq', { type: 'get', to: ts.service.conn.jid }, xml('query', { xmlns: NS.discoInfo })));
    expect(disco.getChild('query', NS.discoInfo)?.getChildren('feature').map((f) => String(f.attrs.var))).toContain(NS.upload);

    const work = tempDir('sealpost-files-nodes-');
    const alice = await startAgent(ts, 'alice');
    const both = await recipientsOnBothNodes(ts, holderOf);
    const idA = readFileSync(join(roots[0] as string, 'root-id'), 'utf8').trim();
    const holders = await Promise.all(both.map((b) => holderOf(b.account.jid)));
    const onA = both[holders.indexOf(idA)] as TestAgent;
    const onB = both[1 - holders.indexOf(idA)] as TestAgent;
    const files = [await randomFile(work, 3), await randomFile(work, 2)];
    const front = ts.service.upload?.url ?? '';
    expect(front).not.toBe('');
    for (const [i, to] of [onA, onB].entries()) {
      await to.agent.stop(); // offline: the file waits at its owner
      const sent = await alice.agent.sendFile(to.account.jid, files[i]?.path ?? '');
      expect(sent.sha256).toBe(files[i]?.sha256);
    }
    // Each blob is on its recipient's owner's root, none on the ingest's data dir.
    expect(blobsOn(ts.dataDir)).toEqual([]);
    expect(blobsOn(roots[0] as string)).toHaveLength(1);
    expect(blobsOn(roots[1] as string)).toHaveLength(1);

    // Node a dies; node b reaches a's root and takes its shards over after the lease.
    await nodes[0]?.kill('SIGKILL');
    await waitUntil('the shard taken over by node b', async () => {
      const h = await holderOf(onA.account.jid);
      return h !== undefined && h !== idA;
    }, 30_000);

    const out = tempDir('sealpost-files-nodes-out-');
    for (const [i, to] of [onA, onB].entries()) {
      const saved = await saveOne(to, out);
      expect(saved.sha256).toBe(files[i]?.sha256);
      expect(sha256Of(saved.path)).toBe(files[i]?.sha256);
    }
  });

  it("finishes an upload interrupted by its owner's death on the node that takes the shard over", async () => {
    const { ts, roots, nodes, holderOf } = await nodeCluster();
    const alice = await startAgent(ts, 'alice');
    const both = await recipientsOnBothNodes(ts, holderOf);
    const idA = readFileSync(join(roots[0] as string, 'root-id'), 'utf8').trim();
    const holders = await Promise.all(both.map((b) => holderOf(b.account.jid)));
    const onA = both[holders.indexOf(idA)] as TestAgent;
    await onA.agent.stop();
    const work = tempDir('sealpost-files-nodes-');
    const file = await randomFile(work, 20); // three PUTs of at most 8 MiB
    let killedAt: number | undefined;
    const sent = await alice.agent.sendFile(onA.account.jid, file.path, {
      onProgress: async (offset) => {
        if (killedAt !== undefined) return;
        killedAt = offset; // node a dies between two PUTs; the next ones wait for node b
        await nodes[0]?.kill('SIGKILL');
      },
    });
    expect(killedAt).toBeGreaterThan(0);
    expect(killedAt).toBeLessThan(file.size + 1024 * 1024);
    expect(sent.sha256).toBe(file.sha256);
    expect(await holderOf(onA.account.jid)).not.toBe(idA);
    // One blob, in the shard's directory on node a's root, completed by node b.
    expect(blobsOn(roots[0] as string)).toHaveLength(1);
    const saved = await saveOne(onA, tempDir('sealpost-files-nodes-out-'));
    expect(sha256Of(saved.path)).toBe(file.sha256);
  });
});
