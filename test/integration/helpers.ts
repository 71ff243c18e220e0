// Reusable helpers for integration tests: the services the global setup started (via inject),
// unique names, fresh XMPP accounts and connections that close themselves when the test ends.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { inject, onTestFinished } from 'vitest';
import { registerInBand } from '../../src/localdev/index.js';
import { createQueues, createRedis, redisReady, type Queues, type Redis } from '../../src/workers/index.js';
import { connectXmpp, xml, type Element, type XmppConnection } from '../../src/xmpp/index.js';

/** What test/integration/global-setup.ts provides to every integration test. */
export interface LocalServicesInfo {
  redisUrl: string;
  xmpp: {
    service: string;
    domain: string;
    host: string;
    port: number;
    dataDir: string;
    configPath: string;
    /** Prosody's log, for failure messages. */
    logPath: string;
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    localServices: LocalServicesInfo;
  }
}

export function services(): LocalServicesInfo {
  return inject('localServices');
}

/** A localpart no other test uses: `${prefix}-<8 hex>`. */
export function uniqueUser(prefix = 'user'): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** A BullMQ queue name for one test, as BullMQ's own suite does. */
export function uniqueQueueName(): string {
  return `test-${randomUUID()}`;
}

export interface Account {
  username: string;
  password: string;
  /** Bare JID. */
  jid: string;
}

/** Registers a new account on the harness's Prosody (XEP-0077, a few ms). */
export async function createAccount(prefix = 'user'): Promise<Account> {
  const { xmpp } = services();
  const username = uniqueUser(prefix);
  const password = randomUUID();
  await registerInBand({ host: xmpp.host, port: xmpp.port, domain: xmpp.domain, username, password });
  return { username, password, jid: `${username}@${xmpp.domain}` };
}

/** Connects an account; the connection is stopped when the current test finishes. */
export async function connect(account: Account, resource = 'test'): Promise<XmppConnection> {
  const { xmpp } = services();
  const conn = await connectXmpp({
    service: xmpp.service,
    domain: xmpp.domain,
    username: account.username,
    password: account.password,
    resource,
  });
  onTestFinished(() => conn.stop());
  return conn;
}

/** A new account, connected (call inside a test: cleanup is tied to it). */
export async function connectFreshAccount(prefix = 'user'): Promise<{ account: Account; conn: XmppConnection }> {
  const account = await createAccount(prefix);
  return { account, conn: await connect(account) };
}

/**
 * Sends initial presence and waits until the server has processed it (a ping answered after it:
 * one session's stanzas are handled in order), so messages to the bare JID reach this resource.
 */
export async function goOnline(conn: XmppConnection): Promise<void> {
  await conn.send(xml('presence'));
  await conn.sendReceive(xml('iq', { type: 'get', to: services().xmpp.domain }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
}

/** The last lines of the harness Prosody's log (info level: no stanza bodies), for diagnostics. */
export function prosodyLogTail(lines = 30): string {
  try {
    return readFileSync(services().xmpp.logPath, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(Prosody log not readable)';
  }
}

/**
 * Resolves with the first stanza matching `predicate`, or rejects after `timeoutMs` (generous:
 * CI machines are shared and loaded) with the tail of Prosody's log.
 */
export function waitForStanza(
  conn: XmppConnection,
  predicate: (stanza: Element) => boolean,
  timeoutMs = 15_000,
): Promise<Element> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no matching stanza for ${conn.jid} within ${timeoutMs} ms; Prosody log:\n${prosodyLogTail()}`));
    }, timeoutMs);
    const off = conn.on('stanza', (stanza) => {
      if (!predicate(stanza)) return;
      clearTimeout(timer);
      off();
      resolve(stanza);
    });
  });
}

export interface ProcessRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node <args>` from the project root with extra environment, capturing its output; `input`,
 * when given, is written to its standard input, which is then closed.
 */
export function runNode(args: readonly string[], env: Record<string, string> = {}, input?: Uint8Array | string): Promise<ProcessRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...args], { cwd: process.cwd(), env: { ...process.env, ...env }, stdio: 'pipe' });
    child.stdin.on('error', () => undefined); // a child that exits without reading its input
    child.stdin.end(input);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * The queues under a fresh prefix on the harness Redis, with a producer and a worker connection;
 * obliterated and closed when the test ends (after anything registered later, such as a worker).
 */
export async function testQueues(storeShards = 1): Promise<{ prefix: string; producer: Redis; consumer: Redis; queues: Queues }> {
  const { redisUrl } = services();
  const prefix = uniqueQueueName();
  const producer = createRedis(redisUrl, 'producer');
  const consumer = createRedis(redisUrl, 'worker');
  await redisReady(producer);
  const queues = createQueues(producer, prefix, storeShards);
  onTestFinished(async () => {
    for (const q of queues.store.shards) await q.obliterate({ force: true });
    await queues.close();
    await Promise.all([producer.quit(), consumer.quit()]);
  });
  return { prefix, producer, consumer, queues };
}
