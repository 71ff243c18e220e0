// The `sealpost` command end to end, as a person or a script uses it: child processes, real
// Prosody, Redis and service; output and exit codes checked (0 ok, 1 error, 2 usage).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createAccount, runNode, services, type Account, type ProcessRun } from './helpers.js';
import { startAgent, startTestService } from './service-fixture.js';

const cli = (args: string[], env: Record<string, string>, input?: Uint8Array | string): Promise<ProcessRun> =>
  runNode(['bin/sealpost.js', ...args], env, input);

/** Each account's CLI arguments and environment: its own device folder (removed after the test), this vault. */
function cliUsers(vault: string): (who: Account) => { args: string[]; env: { SEALPOST_AGENT_PASSWORD: string; SEALPOST_PASSPHRASE: string } } {
  const { xmpp } = services();
  const root = mkdtempSync(join(tmpdir(), 'sealpost-cli-'));
  onTestFinished(() => rmSync(root, { recursive: true, force: true }));
  return (who) => ({
    args: ['--jid', who.jid, '--dir', join(root, who.username), '--service', xmpp.service, '--vault', vault],
    env: { SEALPOST_AGENT_PASSWORD: who.password, SEALPOST_PASSPHRASE: `passphrase of ${who.username}` },
  });
}

describe('sealpost CLI', () => {
  it('inits keys, sends to an offline agent, listens, and shows history, with exit codes', async () => {
    const ts = await startTestService();
    const alice = await createAccount('alice');
    const bob = await createAccount('bob');
    const as = cliUsers(ts.vault.jid);
    const a = as(alice);
    const b = as(bob);

    const init = await cli(['keys', 'init', ...b.args, '--json'], b.env);
    expect(init.code, init.stderr).toBe(0);
    const created = JSON.parse(init.stdout) as { jid: string; device: number; fingerprint: string; published: boolean };
    expect(created.jid).toBe(bob.jid);
    expect(created.published).toBe(true);
    expect(created.fingerprint).toMatch(/^([0-9a-f]{4} ){15}[0-9a-f]{4}$/);

    const again = await cli(['keys', 'init', ...b.args], b.env);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already exists/);

    const show = await cli(['keys', 'show', ...b.args, '--json'], b.env);
    expect(show.code, show.stderr).toBe(0);
    expect(JSON.parse(show.stdout)).toMatchObject({ device: created.device, fingerprint: created.fingerprint, oneTimePrekeys: 100 });

    const wrong = await cli(['keys', 'show', ...b.args], { ...b.env, SEALPOST_PASSPHRASE: 'not it' });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/wrong/i);

    // keys init published Bob's bundle: Alice can send to him before he ever listens.
    expect(init.stderr).toBe('');
    const send = await cli(['send', bob.jid, 'blood pressure 120/80', ...a.args, '--json'], a.env);
    expect(send.code, send.stderr).toBe(0);
    const { messageId } = JSON.parse(send.stdout) as { messageId: string };
    expect(messageId).toMatch(/^[A-Za-z0-9_-]{22}$/);

    const listen = await cli(['listen', ...b.args, '--count', '1', '--timeout', '30'], b.env);
    expect(listen.code, listen.stderr).toBe(0);
    const got = JSON.parse(listen.stdout.trim()) as { id: string; from: string; text: string; trust: string };
    expect(got).toMatchObject({ id: messageId, from: alice.jid, text: 'blood pressure 120/80', trust: 'new' });

    const history = await cli(['history', ...b.args, '--json'], b.env);
    expect(history.code, history.stderr).toBe(0);
    const items = history.stdout.trim().split('\n').map((l) => JSON.parse(l) as { messageId: string; direction: string; text: string });
    expect(items).toEqual([expect.objectContaining({ messageId, direction: 'in', text: 'blood pressure 120/80' })]);

    const rotate = await cli(['keys', 'rotate', ...b.args], b.env);
    expect(rotate.code, rotate.stderr).toBe(0);
    const rotatedId = Number(/published signed prekey (\d+)/.exec(rotate.stderr)?.[1]);
    const shown = JSON.parse((await cli(['keys', 'show', ...b.args, '--json'], b.env)).stdout) as { signedPrekey: { id: number } };
    expect(shown.signedPrekey.id).toBe(rotatedId);
    expect(rotatedId).not.toBe((JSON.parse(show.stdout) as { signedPrekey: { id: number } }).signedPrekey.id);

    const table = await cli(['history', ...b.args], b.env);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/stored\s+dir\s+with\s+content/);
    expect(table.stdout).toContain('blood pressure 120/80');
  });

  it('a first run: keys init --offline, a send that names the fix, keys publish; piped text arrives as text', async () => {
    const ts = await startTestService();
    const alice = await createAccount('alice');
    const carol = await createAccount('carol');
    const as = cliUsers(ts.vault.jid);
    const a = as(alice);
    const c = as(carol);

    const offline = await cli(['keys', 'init', ...c.args, '--offline', '--json'], { SEALPOST_PASSPHRASE: c.env.SEALPOST_PASSPHRASE });
    expect(offline.code, offline.stderr).toBe(0);
    expect(JSON.parse(offline.stdout)).toMatchObject({ jid: carol.jid, published: false });

    const early = await cli(['send', carol.jid, 'too early', ...a.args], a.env);
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(/has no published devices: .*`sealpost keys init`/);

    const publish = await cli(['keys', 'publish', ...c.args], c.env);
    expect(publish.code, publish.stderr).toBe(0);
    expect(publish.stderr).toMatch(/holds 100 one-time prekey/);

    const text = 'heart rate 61\nnote: läuft ✓\n';
    const piped = await cli(['send', carol.jid, ...a.args], a.env, text);
    expect(piped.code, piped.stderr).toBe(0);
    const bytes = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x00, 0xff); // not UTF-8: stays bytes
    expect((await cli(['send', carol.jid, ...a.args], a.env, bytes)).code).toBe(0);
    const typed = await cli(['send', carol.jid, ...a.args, '--content-type', 'application/json'], a.env, '{"hr":61}');
    expect(typed.code, typed.stderr).toBe(0);

    const listen = await cli(['listen', ...c.args, '--count', '3', '--timeout', '30'], c.env);
    expect(listen.code, listen.stderr).toBe(0);
    const got = listen.stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: string; contentType: string; text?: string; base64?: string });
    expect(got).toEqual([
      expect.objectContaining({ id: piped.stdout.trim(), contentType: 'text/plain; charset=utf-8', text }),
      expect.objectContaining({ contentType: 'application/octet-stream', base64: Buffer.from(bytes).toString('base64') }),
      expect.objectContaining({ id: typed.stdout.trim(), contentType: 'application/json', base64: Buffer.from('{"hr":61}').toString('base64') }),
    ]);
    expect(got[0]?.base64).toBeUndefined();
  });

  it('answers bad arguments with a usage error (exit 2) and bad values with a clear message (exit 1)', async () => {
    const missing = await cli(['send'], {});
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/required option '--jid <jid>'|missing required argument/);
    const unknown = await cli(['frobnicate'], {});
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command/);
    const badMax = await cli(['history', '--jid', 'a@localhost', '--max', '0'], {});
    expect(badMax.code).toBe(1);
    expect(badMax.stderr).toMatch(/--max must be a positive integer/);
    const badJid = await cli(['keys', 'show', '--jid', 'not a jid@'], { SEALPOST_PASSPHRASE: 'x' });
    expect(badJid.code).toBe(1);
    expect(badJid.stderr).toMatch(/invalid JID/);
    const noSecret = await cli(['keys', 'init', '--jid', 'a@localhost', '--dir', join(tmpdir(), 'never')], { SEALPOST_PASSPHRASE: '' });
    expect(noSecret.code).toBe(1);
    expect(noSecret.stderr).toMatch(/SEALPOST_PASSPHRASE/);
    const help = await cli(['keys', '--help'], {});
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/init/);
  });
});

describe('sealpost operator commands', () => {
  it('shows status, asks for a retention sweep, retries failed jobs and shreds a user', async () => {
    const ts = await startTestService();
    const alice = await startAgent(ts, 'alice');
    const bob = await startAgent(ts, 'bob');
    await bob.agent.stop();
    await alice.agent.send(bob.account.jid, 'for the status page');

    const status = await cli(['status', '--json'], ts.env);
    expect(status.code, status.stderr).toBe(0);
    const s = JSON.parse(status.stdout) as { queues: { store: Record<string, number> }; users: { jid: string; pending: number; archiveBytes: number }[] };
    expect(s.queues.store.failed).toBe(0);
    const bobRow = s.users.find((u) => u.jid === bob.account.jid);
    expect(bobRow?.pending).toBe(1);
    expect(bobRow?.archiveBytes).toBeGreaterThan(0);

    const sweep = await cli(['retention', 'run', '--json'], ts.env);
    expect(sweep.code, sweep.stderr).toBe(0);
    expect(JSON.parse(sweep.stdout)).toMatchObject({ purged: 0, expired: 0 });
    expect((JSON.parse(sweep.stdout) as { users: number }).users).toBeGreaterThanOrEqual(2);

    const retry = await cli(['retry', 'failed'], ts.env);
    expect(retry.code, retry.stderr).toBe(0);
    expect(retry.stdout).toMatch(/retried 0 store job\(s\) and 0 delivery job\(s\)/);

    const refused = await cli(['shred', bob.account.jid], ts.env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/cannot be undone/);
    const path = ts.service.archive.userPath(bob.account.jid);
    await ts.stop(); // no service holds the data dir now: the operator shreds it offline
    const shredded = await cli(['shred', bob.account.jid, '--yes', '--offline'], ts.env);
    expect(shredded.code, shredded.stderr).toBe(0);
    expect(shredded.stdout).toMatch(/archive key erased, [1-9]\d* file\(s\) removed, 1 device\(s\) unpublished/);
    expect(existsSync(path)).toBe(false);
  });
});
