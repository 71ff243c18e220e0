// sealpost's path for the same N messages of 1 KiB: the sender's SDK seals each to the offline
// recipient agent and sends it; "stored" is when the last of the vault's receipts (sent only after
// the archive commit) has come back. Then the recipient comes online (its signed announcement asks
// for delivery), opens and checks each message, its handler resolves, it sends each receipt;
// "drained" is when the vault has recorded all N as delivered (its acked counter).
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { createAgent, type Agent, type AgentOptions, type ReceivedMessage } from '../../src/agent/index.js';
import type { CpuSplit } from './cpu.js';
import type { Meter, PathResult, XmppAccount, XmppServer } from './prosody-path.js';
import type { ServiceProcess } from './service-proc.js';
import { deferred, percentile, perSecond, sleep, until } from './stats.js';

export interface AgentFactory {
  /** Starts the SDK for `account` (same key dir each time for one account). */
  (account: XmppAccount, onMessage?: AgentOptions['onMessage']): Promise<Agent>;
}

export function agentFactory(server: XmppServer, vault: string, workDir: string): AgentFactory {
  const dirs = new Map<string, { dir: string; key: Uint8Array }>();
  return (account, onMessage) => {
    let d = dirs.get(account.jid);
    if (d === undefined) dirs.set(account.jid, (d = { dir: mkdtempSync(join(workDir, 'agent-')), key: new Uint8Array(randomBytes(32)) }));
    return createAgent({
      xmpp: { service: server.service, domain: server.domain, username: account.username, password: account.password },
      vault,
      dir: d.dir,
      secret: { key: new Uint8Array(d.key) },
      ...(onMessage === undefined ? {} : { onMessage }),
    });
  };
}

/** The vault's count of copies recorded as delivered. */
export const acked = (svc: ServiceProcess): Promise<number> => svc.metric('sealpost_deliveries_total', { result: 'acked' });

export async function runSealpostPath(
  svc: ServiceProcess,
  agents: AgentFactory,
  senderAccount: XmppAccount,
  recipientAccount: XmppAccount,
  n: number,
  meter?: Meter,
): Promise<PathResult> {
  // The recipient publishes its keys once, then goes offline.
  await (await agents(recipientAccount)).stop();
  const sender = await agents(senderAccount);
  const payloads = Array.from({ length: n }, () => new Uint8Array(randomBytes(1024)));
  const storeTimes: number[] = [];
  let storeMs: number;
  let storeCpu: CpuSplit | undefined;
  try {
    const cpu = meter?.();
    const t0 = performance.now();
    await Promise.all(
      payloads.map((p) =>
        sender.send(recipientAccount.jid, p).then(() => {
          storeTimes.push(performance.now() - t0);
        }),
      ),
    );
    storeMs = performance.now() - t0;
    storeCpu = cpu?.();
  } finally {
    await sender.stop();
  }
  const before = await acked(svc);

  const expected = new Set(payloads.map((p) => Buffer.from(p).toString('base64')));
  const drainTimes: number[] = [];
  const all = deferred(`${n} messages at the recipient's application`, 300_000);
  let t0 = 0;
  const onMessage = (m: ReceivedMessage): void => {
    if (!expected.delete(Buffer.from(m.data).toString('base64'))) return;
    drainTimes.push(performance.now() - t0);
    if (expected.size === 0) all.resolve();
  };
  const recipient = await agents(recipientAccount);
  let drainMs: number;
  let drainCpu: CpuSplit | undefined;
  try {
    const cpu = meter?.();
    t0 = performance.now();
    recipient.onMessage(onMessage); // announces the device: delivery starts
    await all.promise;
    await until(async () => (await acked(svc)) - before >= n, `the vault to record ${n} receipts`, 120_000, 10);
    drainMs = performance.now() - t0;
    drainCpu = cpu?.();
  } finally {
    await recipient.stop();
  }
  return {
    storeMs,
    drainMs,
    storePerS: perSecond(n, storeMs),
    drainPerS: perSecond(n, drainMs),
    storeTimes,
    drainTimes,
    ...(storeCpu === undefined ? {} : { storeCpu }),
    ...(drainCpu === undefined ? {} : { drainCpu }),
  };
}

export interface FirstDelivery {
  samples: number[];
  p50: number;
  p99: number;
}

/**
 * Presence → first message at the application, over `rounds` reconnects: each round one message
 * waits at the vault, the recipient starts, sets its handler (its announcement goes out) and the
 * clock runs until the handler sees the message; the receipt is let through before it stops.
 */
export async function firstDelivery(
  svc: ServiceProcess,
  agents: AgentFactory,
  senderAccount: XmppAccount,
  recipientAccount: XmppAccount,
  rounds: number,
): Promise<FirstDelivery> {
  await (await agents(recipientAccount)).stop(); // publishes its keys
  const sender = await agents(senderAccount);
  const samples: number[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      await sender.send(recipientAccount.jid, randomBytes(1024));
      const before = await acked(svc);
      const recipient = await agents(recipientAccount);
      try {
        const first = deferred<number>('the first delivery after presence', 30_000);
        const t0 = performance.now();
        recipient.onMessage(() => first.resolve(performance.now() - t0));
        samples.push(await first.promise);
        await until(async () => (await acked(svc)) > before, 'the receipt at the vault', 30_000, 5);
      } finally {
        await recipient.stop();
      }
      await sleep(20);
    }
  } finally {
    await sender.stop();
  }
  return { samples, p50: percentile(samples, 50), p99: percentile(samples, 99) };
}
