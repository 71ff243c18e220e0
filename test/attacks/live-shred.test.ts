// Attack 8 of issue 14: `sealpost shred` on a live service. The operator shredded a user on the
// service host while the service ran: the command removed the key and the files, but the service
// kept its pooled handle on the unlinked file, went on serving the "shredded" history, and stored
// (and acknowledged) new messages into the unlinked file, lost at the next restart. Now the
// command asks the running service, which closes its handle, shreds, and stores later messages
// in a fresh archive; the offline command refuses a data dir a service holds (exit code 3).
import { describe, expect, it } from 'vitest';
import { runNode } from '../integration/helpers.js';
import { startAgent, startTestService } from '../integration/service-fixture.js';
import { honestExchange, watchVaultStream } from './attacker.js';

const cli = (args: string[], env: Record<string, string>) => runNode(['bin/sealpost.js', ...args], env);

describe('attack: shred on a live service', () => {
  it('shreds through the running service: the old archive is unreadable and a later message is kept in a fresh one', async () => {
    let ts = await startTestService();
    const stream = watchVaultStream(ts);
    const alice = await startAgent(ts, 'alice');
    const bob = await startAgent(ts, 'bob');
    const got: string[] = [];
    bob.agent.onMessage((m) => void got.push(m.text()));
    await alice.agent.send(bob.account.jid, 'kept before the shred');
    await expect.poll(() => got, { timeout: 20_000 }).toEqual(['kept before the shred']);
    await bob.agent.stop();
    const pending = await alice.agent.send(bob.account.jid, 'pending at the shred');
    const before = ts.service.archive.query(bob.account.jid, { max: 10 }).items.map((i) => i.messageId);
    expect(before).toContain(pending.messageId);

    // The operator, on the service host with the service's environment, while it runs.
    const offline = await cli(['shred', bob.account.jid, '--yes', '--offline'], ts.env);
    expect(offline.code, `offline shred of a live data dir: ${offline.stderr}`).toBe(3);
    expect(offline.stderr).toMatch(/a running sealpost service holds .*leave out --offline/);
    expect(ts.service.archive.query(bob.account.jid, { max: 10 }).items.map((i) => i.messageId)).toEqual(before);
    const shredded = await cli(['shred', bob.account.jid, '--yes'], ts.env);
    expect(shredded.code, shredded.stderr).toBe(0);
    expect(shredded.stdout).toMatch(/archive key erased, [1-9]\d* file\(s\) removed, 1 device\(s\) unpublished/);
    expect(ts.service.archive.query(bob.account.jid, { max: 10 }).items, 'the shredded history, still served').toEqual([]);

    // Bob comes back (publishing his keys again) and gets only what was sent after the shred.
    const bobAgain = await bob.reopen();
    bobAgain.onMessage((m) => void got.push(m.text()));
    const after = await alice.agent.send(bob.account.jid, 'sent after the shred');
    await expect.poll(() => got, { timeout: 20_000 }).toEqual(['kept before the shred', 'sent after the shred']);
    expect(ts.service.archive.query(bob.account.jid, { max: 10 }).items.map((i) => i.messageId)).toEqual([after.messageId]);
    stream.assertUp();

    // Acknowledged means committed: after a restart the message is still in Bob's archive.
    ts = await ts.restart();
    expect(ts.service.archive.query(bob.account.jid, { max: 10 }).items.map((i) => i.messageId), 'acknowledged after the shred, then lost').toEqual([after.messageId]);
    await honestExchange(ts);
  });

  it('shreds offline once no service holds the data dir; without a service the default says to use --offline', async () => {
    const ts = await startTestService();
    const alice = await startAgent(ts, 'alice');
    const bob = await startAgent(ts, 'bob');
    await bob.agent.stop();
    await alice.agent.send(bob.account.jid, 'pending');
    await ts.stop();
    const noService = await cli(['shred', bob.account.jid, '--yes'], ts.env);
    expect(noService.code).toBe(1);
    expect(noService.stderr).toMatch(/no running sealpost service answered.*--offline/);
    const offline = await cli(['shred', bob.account.jid, '--yes', '--offline'], ts.env);
    expect(offline.code, offline.stderr).toBe(0);
    expect(offline.stdout).toMatch(/archive key erased/);
  });
});
