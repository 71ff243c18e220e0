// The scale-out test's workload (issue 15) with the real SDK: senders, recipients (every k-th with
// a second device), messages sent in batches while every recipient is offline, then every device
// online counting what reaches its application, and each recipient's history read back through
// the vault. Sizes come from the environment, so a bigger run needs no code change.
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { createAgent, type Agent, type AgentOptions } from '../../src/agent/index.js';
import type { ScaleTopology } from './scale-fixture.js';

export interface ScaleSize {
  senders: number;
  recipients: number;
  /** Messages in all; each recipient gets messages / recipients, from two senders. */
  messages: number;
  /** Every `twoDeviceEvery`-th recipient has a second device. */
  twoDeviceEvery: number;
}

const envInt = (name: string, dflt: number): number => {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${name}: expected a positive integer, got ${v}`);
  return n;
};

/**
 * SEALPOST_SCALE_SENDERS / _RECIPIENTS / _MESSAGES / _TWO_DEVICE_EVERY. Defaults 20 / 200 / 2,000 / 5,
 * the suite's size (2-4 min on 2 shared cores, by load); issue 15's full run is 50 / 500 / 5,000 / 5
 * (6-10 min).
 */
export function scaleSize(): ScaleSize {
  const size = {
    senders: envInt('SEALPOST_SCALE_SENDERS', 20),
    recipients: envInt('SEALPOST_SCALE_RECIPIENTS', 200),
    messages: envInt('SEALPOST_SCALE_MESSAGES', 2000),
    twoDeviceEvery: envInt('SEALPOST_SCALE_TWO_DEVICE_EVERY', 5),
  };
  if (size.senders < 2 || size.messages % (size.recipients * 2) !== 0)
    throw new RangeError(`scale size: need >= 2 senders and messages a multiple of 2 x recipients, got ${JSON.stringify(size)}`);
  return size;
}

/** Runs `fn` over `items` with at most `limit` at a time. */
export async function eachLimit<T>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const run = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
}

export interface Device {
  options: AgentOptions;
  id: number;
  agent: Agent | undefined;
  /** Times the application saw each message id. */
  seen: Map<string, number>;
  /** Deliveries the SDK dropped as already seen (at-least-once redelivery). */
  replays: number;
}

export interface Recipient {
  jid: string;
  devices: Device[];
  /** Message ids sent to this user, in send order, by sender. */
  bySender: Map<string, string[]>;
}

export interface Sent {
  sender: string;
  recipient: string;
}

export interface Workload {
  senders: { jid: string; agent: Agent }[];
  recipients: Recipient[];
  sent: Map<string, Sent>;
}

/** Creates every account and device (recipients' devices publish their keys, then go offline). */
export async function createUsers(t: ScaleTopology, size: ScaleSize, dir: string): Promise<Workload> {
  const opened: Agent[] = [];
  onTestFinished(async () => {
    await eachLimit(opened, 16, (a) => a.stop().catch(() => undefined));
  });
  const device = (prefix: string, acc: { username: string; password: string }, n: number, archiveKey: boolean): AgentOptions => {
    const d = join(dir, `${acc.username}-${n}`);
    mkdirSync(d, { recursive: true });
    return {
      xmpp: { service: t.prosody.service, domain: t.prosody.domain, username: acc.username, password: acc.password, resource: `${prefix}${n}` },
      vault: t.vault,
      dir: d,
      secret: { key: new Uint8Array(randomBytes(32)) },
      archiveKey,
      prekeys: 20,
      lowWater: 5,
      resendAfterMs: 20_000,
    };
  };
  const recipients: Recipient[] = Array.from({ length: size.recipients }, () => ({ jid: '', devices: [], bySender: new Map() }));
  await eachLimit(recipients, 8, async (r, i) => {
    const acc = await t.account('r');
    r.jid = acc.jid;
    const count = i % size.twoDeviceEvery === 0 ? 2 : 1;
    for (let n = 0; n < count; n++) {
      // The first device holds the account's archive key (history); a second one has none.
      const options = device('d', acc, n, n === 0);
      const agent = await createAgent(options);
      r.devices.push({ options, id: agent.device, agent: undefined, seen: new Map(), replays: 0 });
      await agent.stop();
    }
  });
  const senders: Workload['senders'] = [];
  await eachLimit(Array.from({ length: size.senders }), 8, async () => {
    const acc = await t.account('s');
    const agent = await createAgent(device('s', acc, 0, true));
    opened.push(agent);
    senders.push({ jid: acc.jid, agent });
  });
  onTestFinished(async () => {
    await eachLimit(recipients.flatMap((r) => r.devices), 16, async (d) => {
      await d.agent?.stop().catch(() => undefined);
    });
  });
  return { senders, recipients, sent: new Map() };
}

/**
 * Recipient i gets messages from senders i and i + 1 (mod senders), half from each, in batches
 * (the SDK's sendMany); resolves when every message has its receipt.
 */
export async function sendAll(w: Workload, size: ScaleSize, concurrency = 16): Promise<number> {
  const each = size.messages / size.recipients / 2;
  const pairs = w.recipients.flatMap((r, i) => [0, 1].map((d) => ({ r, s: w.senders[(i + d) % w.senders.length] as Workload['senders'][number] })));
  const t0 = Date.now();
  await eachLimit(pairs, concurrency, async ({ r, s }) => {
    const texts = Array.from({ length: each }, (_, j) => `scale ${s.jid} to ${r.jid} #${j}`);
    const results = await s.agent.sendMany(r.jid, texts);
    const ids = results.map((x) => x.messageId);
    r.bySender.set(s.jid, ids);
    for (const id of ids) w.sent.set(id, { sender: s.jid, recipient: r.jid });
  });
  return Date.now() - t0;
}

/**
 * Starts every recipient device with a handler counting what reaches the application. A start
 * that fails (its key IQ reached a shard whose owner died and whose lease has not run out yet:
 * service-unavailable) is tried again a second later, as an application would; resolves with the
 * number of such retries.
 */
export async function openRecipients(w: Workload, concurrency = 8): Promise<number> {
  let retries = 0;
  await eachLimit(w.recipients.flatMap((r) => r.devices), concurrency, async (d) => {
    for (let attempt = 1; ; attempt++) {
      try {
        const agent = await createAgent({
          ...d.options,
          onMessage: (m) => {
            d.seen.set(m.messageId, (d.seen.get(m.messageId) ?? 0) + 1);
          },
        });
        agent.on('dropped', () => d.replays++);
        d.agent = agent;
        return;
      } catch (err) {
        if (attempt >= 60) throw err;
        retries++;
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
  });
  return retries;
}

/** Copies that reached their device's application, counting each (device, message) once. */
export function delivered(w: Workload): number {
  return w.recipients.reduce((n, r) => n + r.devices.reduce((m, d) => m + d.seen.size, 0), 0);
}

export function expectedCopies(w: Workload): number {
  return w.recipients.reduce((n, r) => n + r.devices.length * [...r.bySender.values()].reduce((m, ids) => m + ids.length, 0), 0);
}

/** What went wrong with deliveries: a copy missing, seen twice, or not sent to that user. */
export function deliveryFaults(w: Workload): string[] {
  const out: string[] = [];
  for (const r of w.recipients) {
    const ids = new Set([...r.bySender.values()].flat());
    for (const d of r.devices) {
      for (const id of ids) if ((d.seen.get(id) ?? 0) !== 1) out.push(`${r.jid}/${d.id}: ${id} seen ${d.seen.get(id) ?? 0} times`);
      for (const id of d.seen.keys()) if (!ids.has(id)) out.push(`${r.jid}/${d.id}: ${id} was not sent to it`);
    }
  }
  return out;
}

/** Each recipient's history through the vault: every item once, each sender's in send order. */
export async function historyFaults(w: Workload, concurrency = 8): Promise<string[]> {
  const out: string[] = [];
  await eachLimit(w.recipients, concurrency, async (r) => {
    const agent = r.devices[0]?.agent as Agent;
    const got: { id: string; from: string }[] = [];
    for await (const h of agent.history()) {
      if (h.ok) got.push({ id: h.messageId, from: h.from });
      else out.push(`${r.jid}: history item ${h.messageId ?? '?'} did not open: ${h.error.message}`);
    }
    const ids = got.map((g) => g.id);
    if (new Set(ids).size !== ids.length) out.push(`${r.jid}: history repeats an item`);
    for (const [sender, sent] of r.bySender) {
      const seen = got.filter((g) => g.from === sender).map((g) => g.id);
      if (seen.join() !== sent.join()) out.push(`${r.jid}: history from ${sender} is ${seen.length} items, not the ${sent.length} sent in order`);
    }
    if (got.length !== [...r.bySender.values()].flat().length) out.push(`${r.jid}: history has ${got.length} items`);
  });
  return out;
}
