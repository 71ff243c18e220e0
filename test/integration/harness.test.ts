// Proves the harness: real Prosody started by the global setup (accounts, messages, IQs, offline
// storage), real Redis (BullMQ round trip on a unique queue, cleaned up), and the dedicated
// redis-server used by fault tests (crash and restart keep an fsynced AOF write).
import { describe, expect, it, onTestFinished } from 'vitest';
import { startProsody, startRedisServer } from '../../src/localdev/index.js';
import {
  Queue,
  QueueEvents,
  UnrecoverableError,
  Worker,
  checkRedisPolicy,
  createRedis,
  redisReady,
  type Redis,
} from '../../src/workers/bullmq.js';
import { StanzaError, bareJid, connectXmpp, stanzaError, xml } from '../../src/xmpp/index.js';
import {
  connect,
  connectFreshAccount,
  createAccount,
  goOnline,
  services,
  uniqueQueueName,
  waitForStanza,
} from './helpers.js';

describe('the harness Prosody', () => {
  it('lets two fresh accounts log in and exchange a message', async () => {
    const alice = await connectFreshAccount('alice');
    const bob = await connectFreshAccount('bob');
    expect(bareJid(alice.conn.jid)).toBe(alice.account.jid);
    expect(alice.conn.bareJid).toBe(alice.account.jid);

    await goOnline(bob.conn);
    const received = waitForStanza(bob.conn, (s) => s.is('message') && s.getChild('body') !== undefined);
    await alice.conn.send(xml('message', { to: bob.account.jid, type: 'chat', id: 'm1' }, xml('body', {}, 'hello bob')));
    const message = await received;

    // The server stamps the sender; that stamp, normalised, is what authorisation relies on.
    expect(bareJid(String(message.attrs.from))).toBe(alice.account.jid);
    expect(message.getChildText('body')).toBe('hello bob');
  });

  it('routes an IQ to a full JID and returns the callee result or its stanza error', async () => {
    const alice = await connectFreshAccount('alice');
    const bob = await connectFreshAccount('bob');
    bob.conn.iqCallee.get('urn:example:echo', 'echo', ({ element, from }) => {
      if (element.attrs.fail === 'yes') return stanzaError('cancel', 'item-not-found');
      return xml('echo', { xmlns: 'urn:example:echo', caller: bareJid(from) });
    });

    const reply = await alice.conn.sendReceive(
      xml('iq', { type: 'get', to: bob.conn.jid }, xml('echo', { xmlns: 'urn:example:echo' })),
    );
    expect(reply.getChild('echo', 'urn:example:echo')?.attrs.caller).toBe(alice.account.jid);

    const failing = alice.conn.sendReceive(
      xml('iq', { type: 'get', to: bob.conn.jid }, xml('echo', { xmlns: 'urn:example:echo', fail: 'yes' })),
    );
    await expect(failing).rejects.toBeInstanceOf(StanzaError);
    await expect(failing).rejects.toMatchObject({ condition: 'item-not-found', type: 'cancel' });
  });

  it('keeps a message for an offline account and delivers it at login (mod_offline)', async () => {
    const alice = await connectFreshAccount('alice');
    const bob = await createAccount('bob');
    await alice.conn.send(xml('message', { to: bob.jid, type: 'chat' }, xml('body', {}, 'while you were away')));
    await goOnline(alice.conn); // its ping also proves the message above reached the server

    const bobConn = await connect(bob);
    const received = waitForStanza(bobConn, (s) => s.is('message') && s.getChild('body') !== undefined);
    await bobConn.send(xml('presence')); // offline messages are flushed on initial presence
    const message = await received;
    expect(message.getChildText('body')).toBe('while you were away');
    expect(message.getChild('delay', 'urn:xmpp:delay')).toBeDefined();
  });

  it('reconnects by itself after the XMPP server crashes and comes back', async () => {
    const server = await startProsody(); // a private one: the shared server stays up
    onTestFinished(() => server.stop());
    await server.createAccount('carol', 'carol-password');
    const conn = await connectXmpp({
      service: server.service,
      domain: server.domain,
      username: 'carol',
      password: 'carol-password',
      resource: 'phone',
    });
    onTestFinished(() => conn.stop());
    const online = new Promise<string>((resolve) => conn.on('online', resolve));

    await server.restart('SIGKILL');
    await expect(online).resolves.toBe(`carol@${server.domain}/phone`);
    const pong = await conn.sendReceive(xml('iq', { type: 'get', to: server.domain }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
    expect(pong.attrs.type).toBe('result');
  });

  it('refuses a wrong password with a clear error', async () => {
    const account = await createAccount('mallory');
    await expect(connect({ ...account, password: 'wrong' })).rejects.toMatchObject({ code: 'forbidden' });
  });
});

function quitOnFinish(redis: Redis): Redis {
  redis.on('error', () => undefined); // connection errors surface through the commands under test
  onTestFinished(async () => {
    if (redis.status !== 'end') await redis.quit().catch(() => redis.disconnect());
  });
  return redis;
}

describe('BullMQ on the harness Redis', () => {
  async function queueSetup<D, R>(processor: (data: D) => Promise<R>) {
    const { redisUrl } = services();
    const name = uniqueQueueName();
    const producer = quitOnFinish(createRedis(redisUrl, 'producer'));
    const consumer = quitOnFinish(createRedis(redisUrl, 'worker'));
    const queue = new Queue<D, R>(name, { connection: producer });
    const events = new QueueEvents(name, { connection: { url: redisUrl } });
    const worker = new Worker<D, R>(name, (job) => processor(job.data), { connection: consumer, concurrency: 2 });
    await Promise.all([queue.waitUntilReady(), events.waitUntilReady(), worker.waitUntilReady()]);
    onTestFinished(async () => {
      await worker.close();
      await events.close();
      await queue.obliterate({ force: true });
      expect(await producer.keys(`bull:${name}:*`)).toEqual([]);
      await queue.close();
    });
    return { queue, events };
  }

  it('runs a job through a queue and a worker and returns its result', async () => {
    const { queue, events } = await queueSetup<{ n: number }, { doubled: number }>(({ n }) =>
      Promise.resolve({ doubled: n * 2 }),
    );
    const job = await queue.add('double', { n: 21 }, { removeOnComplete: true });
    await expect(job.waitUntilFinished(events, 10_000)).resolves.toEqual({ doubled: 42 });
  });

  it('does not retry a job that failed with UnrecoverableError', async () => {
    let calls = 0;
    const { queue, events } = await queueSetup<{ n: number }, never>(() => {
      calls += 1;
      return Promise.reject(new UnrecoverableError('permanent'));
    });
    const job = await queue.add('fail', { n: 1 }, { attempts: 5, backoff: { type: 'fixed', delay: 10 } });
    await expect(job.waitUntilFinished(events, 10_000)).rejects.toThrow('permanent');
    expect(calls).toBe(1);
  });

  it('reports the maxmemory policy', async () => {
    const redis = quitOnFinish(createRedis(services().redisUrl, 'producer'));
    const policy = await checkRedisPolicy(redis);
    expect(typeof policy.maxmemoryPolicy).toBe('string');
    expect(policy.ok).toBe(policy.maxmemoryPolicy === 'noeviction');
  });
});

describe('a dedicated redis-server for fault tests', () => {
  it('survives SIGKILL and restart with an fsynced AOF write, and producers fail fast meanwhile', async () => {
    const server = await startRedisServer({ appendonly: true, appendfsync: 'always' });
    onTestFinished(() => server.stop());
    const redis = quitOnFinish(createRedis(server.url, 'producer'));
    expect(await checkRedisPolicy(redis)).toEqual({ maxmemoryPolicy: 'noeviction', ok: true });
    await redis.set('canary-key', 'kept'); // appendfsync always: on disk before the reply

    await server.kill('SIGKILL');
    expect(server.pid).toBeUndefined();
    const started = Date.now();
    await expect(redis.get('canary-key')).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(3000);

    await server.restart();
    const again = quitOnFinish(createRedis(server.url, 'producer'));
    await redisReady(again);
    expect(await again.get('canary-key')).toBe('kept');
  });
});
