// Two vault processes with the same XMPP resource (issue 18, part 4): the server ends the older
// session with a `conflict` stream error each time the other binds it; both reconnecting replaced
// each other for ever. The one replaced exits with a clear error; the other keeps the resource.
import { describe, expect, it } from 'vitest';
import { serveProcess, startAgent, testServiceEnv, type ServeProcess } from './service-fixture.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('two services on one vault resource', () => {
  it('the replaced one exits with a clear error, the other keeps serving: no endless replacing', async () => {
    const se = await testServiceEnv();
    const first = serveProcess(se.env);
    await first.running;
    const second = serveProcess(se.env);
    second.running.catch(() => undefined); // it may be the one refused
    const loser = await Promise.race([
      first.exited.then(() => first),
      second.exited.then(() => second),
      sleep(20_000).then((): ServeProcess => {
        throw new Error(`neither service exited in 20 s (they keep replacing each other):\n${first.output().slice(-1500)}`);
      }),
    ]);
    const winner = loser === first ? second : first;
    expect(await loser.exited).toBe(1);
    expect(loser.output()).toMatch(
      /sealpost: XMPP session \S+ replaced by another connection on the same resource \(stream error conflict.*\); not reconnecting: give each process its own SEALPOST_VAULT_RESOURCE/,
    );

    // Several reconnect delays (xmpp.js waits 1 s) later the winner still holds its session alone.
    await winner.running;
    await sleep(5_000);
    expect(winner.child.exitCode).toBeNull();
    expect(winner.output()).not.toMatch(/conflict/);

    // ... and serves: a message to an offline agent is committed and acknowledged.
    const bob = await startAgent(se, 'bob');
    await bob.agent.stop();
    const alice = await startAgent(se, 'alice');
    await alice.agent.send(bob.account.jid, 'after the conflict');
    winner.child.kill('SIGTERM');
    expect(await winner.exited).toBe(0);
  }, 90_000);
});
