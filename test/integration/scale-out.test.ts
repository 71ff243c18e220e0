// Scale-out (issue 15): `sealpost ingest` and three `sealpost worker` nodes as OS processes, each
// node with its own data root, over a real 3-master Redis Cluster and Prosody. Senders send their
// messages in batches to offline recipients (every fifth with two devices; sizes below); the
// recipients come online; mid-delivery one node is killed (-9) and its shards are taken over
// within the lease time (the others reach its root, standing in for a re-attached volume); then
// another is stopped (SIGSTOP) past its lease and continued, and writes nothing once its lease is
// gone. In the end every receipted message reached each of its recipient's devices once, every
// history through the vault has each item once and in order, and each shard's fence write log
// shows one writer per epoch, none writing after the next claim. Sizes: SEALPOST_SCALE_* (scaleSize:
// 20 senders, 200 recipients, 2,000 messages in the suite; issue 15's 50 / 500 / 5,000 by env).
// SEALPOST_TEST_KEEP=1 keeps every process's log; SEALPOST_SCALE_LOG_LEVEL=debug for the nodes'
// and the ingest's debug lines (one device's presences, delivery requests and jobs).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { sleep, waitUntil } from './fault-fixture.js';
import { startScaleTopology, takenOver, type ScaleNode } from './scale-fixture.js';
import { createUsers, delivered, deliveryFaults, expectedCopies, historyFaults, openRecipients, scaleSize, sendAll } from './scale-workload.js';

const LEASE_S = Number(process.env.SEALPOST_SCALE_LEASE_SECONDS ?? 10);
const SHARDS = Number(process.env.SEALPOST_SCALE_SHARDS ?? 12);
const log = (text: string): void => void process.stderr.write(`[scale-out] ${text}\n`);

describe('scale-out over worker nodes', () => {
  it('ingest + 3 nodes on a Redis Cluster: offline messages delivered once per device and in history through kill -9 and a pause', async () => {
    const size = scaleSize();
    const started = Date.now();
    const t = await startScaleTopology({ nodes: 3, shardCount: SHARDS, leaseSeconds: LEASE_S });
    await t.balance(60_000);
    log(`topology up in ${Date.now() - started} ms: ${SHARDS} shards, lease ${LEASE_S} s; ${JSON.stringify(size)}`);
    const dir = mkdtempSync(join(tmpdir(), 'sealpost-scale-agents-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));

    const t0 = Date.now();
    const w = await createUsers(t, size, dir);
    log(`${size.senders} senders, ${size.recipients} recipients (${w.recipients.reduce((n, r) => n + r.devices.length, 0)} devices) in ${Date.now() - t0} ms`);
    const sendMs = await sendAll(w, size);
    expect(w.sent.size).toBe(size.messages);
    log(`${w.sent.size} messages receipted in ${sendMs} ms (${Math.round((w.sent.size * 1000) / sendMs)}/s)`);

    const total = expectedCopies(w);
    const d0 = Date.now();
    // Devices come online one after another while the faults happen: deliveries are in flight.
    let openFailed: Error | undefined;
    let startRetries = 0;
    const opening = openRecipients(w).then(
      (n) => void (startRetries = n),
      (err: unknown) => void (openFailed = err instanceof Error ? err : new Error(String(err))),
    );
    const reached = async (label: string, share: number, ms: number): Promise<void> => {
      await waitUntil(label, () => openFailed !== undefined || delivered(w) >= total * share, ms, progress);
      if (openFailed !== undefined) throw openFailed;
    };
    const progress = (): string =>
      `${delivered(w)} of ${total}${openFailed === undefined ? '' : `; a device did not start: ${openFailed.message}`}; missing: ${deliveryFaults(w).slice(0, 3).join('; ')}`;
    const [killed, paused, survivor] = t.nodes as [ScaleNode, ScaleNode, ScaleNode];

    // kill -9 one node mid-delivery; its shards are taken over once its lease expired.
    await reached('a fifth delivered', 1 / 5, 120_000);
    const killedHeld = (await t.holders()).flatMap((h, k) => (h?.node === killed.id ? [k] : []));
    const killAt = Date.now();
    const killedAt = delivered(w);
    await killed.proc.kill('SIGKILL');
    const takeoverMs = await takenOver(t, killed.id, killedHeld, killAt, LEASE_S * 1000 * 4 + 10_000);
    log(`killed ${killed.id} at ${killedAt} of ${total} copies; shards ${killedHeld.join(',')} taken over in ${takeoverMs} ms`);
    // The lease ran out at most a lease after the last renewal; the next owner's tick is a third of it later.
    expect(takeoverMs).toBeLessThanOrEqual(LEASE_S * 1000 * (4 / 3) + 3_000);

    // SIGSTOP another node past its lease; the survivor takes its shards; SIGCONT: it must let go.
    await reached('half delivered', 1 / 2, 180_000);
    const pausedHeld = (await t.holders()).flatMap((h, k) => (h?.node === paused.id ? [k] : []));
    const lettingGo = (): number => (readFileSync(paused.proc.logFile, 'utf8').match(/"reason":"(expired|lost)"[^\n]*"msg":"shard stopped"/g) ?? []).length;
    const letGoBefore = lettingGo();
    const pid = paused.proc.pid as number;
    const pausedAt = delivered(w);
    process.kill(pid, 'SIGSTOP');
    const stopAt = Date.now();
    // Its leases run out in Redis a lease after its last renewal. The survivor takes each shard;
    // one the paused node was stopped in the middle of writing stays locked until it wakes.
    const leaseGoneMs = await takenOver(t, paused.id, pausedHeld, stopAt, LEASE_S * 1000 * 2 + 10_000, false);
    await sleep(LEASE_S * 500);
    const held = await t.holders();
    const contAt = Date.now();
    process.kill(pid, 'SIGCONT');
    const takenDuringPause = pausedHeld.filter((k) => held[k] !== undefined && held[k]?.node !== paused.id);
    log(`paused ${paused.id} at ${pausedAt} of ${total} copies (shards ${pausedHeld.join(',')}) for ${contAt - stopAt} ms; its leases gone after ${leaseGoneMs} ms; ${takenDuringPause.length} taken over before it woke`);
    expect(leaseGoneMs).toBeLessThanOrEqual(LEASE_S * 1000 * (4 / 3) + 3_000);
    // Awake, it finds its leases past due on its own clock (or lost in Redis) and stops every shard.
    await waitUntil(`${paused.id} lets go of its shards`, () => lettingGo() - letGoBefore >= pausedHeld.length, 20_000, () => `${lettingGo() - letGoBefore} of ${pausedHeld.length}`);
    // (Awake, it is a live node again and may take a shard that comes free: the write logs below
    // show that none of its old epochs wrote after the next claim.)

    await opening;
    if (openFailed !== undefined) throw openFailed;
    log(`${w.recipients.reduce((n, r) => n + r.devices.length, 0)} devices online ${Date.now() - d0} ms after the first (${startRetries} starts tried again)`);
    await waitUntil('every copy delivered', () => delivered(w) >= total, 300_000, progress);
    const deliverMs = Date.now() - d0;
    await sleep(1_000); // late duplicates would show now
    const dropped = w.recipients.reduce((n, r) => n + r.devices.reduce((m, d) => m + d.replays, 0), 0);
    log(`${total} copies to ${w.recipients.reduce((n, r) => n + r.devices.length, 0)} devices in ${deliverMs} ms; ${dropped} redeliveries dropped by the SDK as seen`);
    expect(deliveryFaults(w).slice(0, 20)).toEqual([]);

    const h0 = Date.now();
    expect((await historyFaults(w)).slice(0, 20)).toEqual([]);
    log(`history of ${w.recipients.length} users checked through the vault in ${Date.now() - h0} ms`);

    // The write logs, with every node stopped: one node per epoch, none writing after the next claim.
    for (const n of [paused, survivor]) await n.proc.kill('SIGTERM');
    await t.ingest.kill('SIGTERM');
    const logs = t.writeLogs();
    for (const { shard, roots, log: epochs } of logs) {
      expect(roots, `shard ${shard}'s directory lives in one root`).toHaveLength(1);
      for (let i = 1; i < epochs.length; i++) {
        const [prev, next] = [epochs[i - 1], epochs[i]] as [NonNullable<(typeof epochs)[number]>, NonNullable<(typeof epochs)[number]>];
        if (prev.lastAt !== null) expect(prev.lastAt, `shard ${shard}: ${prev.node}@${prev.epoch} wrote after ${next.node}@${next.epoch} claimed it`).toBeLessThanOrEqual(next.claimedAt);
      }
      for (const e of epochs) {
        if (e.node === killed.id && e.lastAt !== null) expect(e.lastAt).toBeLessThanOrEqual(killAt);
        // The paused node: nothing after it was stopped, except a write it was stopped inside of.
        if (e.node === paused.id && e.lastAt !== null && pausedHeld.includes(shard)) expect(e.lastAt).toBeLessThanOrEqual(contAt + 1_000);
      }
    }
    const epochsSeen = logs.reduce((n, l) => n + l.log.length, 0);
    log(`write logs: ${epochsSeen} epochs over ${SHARDS} shards, ${logs.reduce((n, l) => n + l.log.reduce((m, e) => m + e.count, 0), 0)} fenced writes; total ${Date.now() - started} ms`);
  }, 900_000);
});
