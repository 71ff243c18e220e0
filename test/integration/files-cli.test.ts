// `sealpost send --file` and `sealpost listen --save DIR` (issue 17) as a person runs them: a file
// over the inline limit goes through the upload service; the listener saves each file inside DIR
// (a hostile name cannot leave it) and prints its JSON line once the file is checked.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { randomFile, sha256Of, tempDir } from './files-fixture.js';
import { createAccount, runNode, services } from './helpers.js';
import { startAgent, startTestService } from './service-fixture.js';

describe('sealpost CLI with files', () => {
  it('send --file above the inline limit and listen --save DIR, with a hostile file name kept inside DIR', async () => {
    const ts = await startTestService();
    const { xmpp } = services();
    const root = tempDir('sealpost-fcli-');
    const alice = await createAccount('alice');
    const bob = await createAccount('bob');
    const as = (who: typeof alice) => ({
      args: ['--jid', who.jid, '--dir', join(root, who.username), '--service', xmpp.service, '--vault', ts.vault.jid],
      env: { SEALPOST_AGENT_PASSWORD: who.password, SEALPOST_PASSPHRASE: `passphrase of ${who.username}` },
    });
    const a = as(alice);
    const b = as(bob);
    const cli = (args: string[], env: Record<string, string>) => runNode(['bin/sealpost.js', ...args], env);
    expect((await cli(['keys', 'init', ...b.args], b.env)).code).toBe(0);

    // 3 MiB in CI; SEALPOST_FILES_CLI_MIB=200 runs the 200 MiB transfer through the same commands.
    const file = await randomFile(root, Number(process.env.SEALPOST_FILES_CLI_MIB ?? 3));
    const send = await cli(['send', bob.jid, '--file', file.path, ...a.args, '--json'], a.env);
    expect(send.code, send.stderr).toBe(0);
    expect(JSON.parse(send.stdout)).toMatchObject({ to: bob.jid, size: file.size, sha256: file.sha256 });
    // Another sender names its file to escape the folder.
    const mallory = await startAgent(ts, 'mallory');
    const hostile = await randomFile(root, 1);
    await mallory.agent.sendFile(bob.jid, hostile.path, { name: '../../../escaped.bin' });

    const saveDir = join(root, 'inbox');
    const listen = await cli(['listen', ...b.args, '--save', saveDir, '--count', '2', '--timeout', '60'], b.env);
    expect(listen.code, listen.stderr).toBe(0);
    const lines = listen.stdout.trim().split('\n').map((l) => JSON.parse(l) as { from: string; text?: string; base64?: string; file: { name: string; path: string; sha256: string; size: number } });
    expect(lines).toHaveLength(2);
    const byAlice = lines.find((l) => l.from === alice.jid);
    const byMallory = lines.find((l) => l.from !== alice.jid);
    expect(byAlice?.file).toMatchObject({ size: file.size, sha256: file.sha256, path: join(saveDir, file.path.split('/').pop() ?? '') });
    expect(byMallory?.file.path).toBe(join(saveDir, 'escaped.bin'));
    for (const l of lines) {
      expect(l.text).toBeUndefined(); // the manifest (key, URL) is never printed
      expect(l.base64).toBeUndefined();
      expect(sha256Of(l.file.path)).toBe(l.file.sha256);
    }
    expect(readdirSync(saveDir).sort()).toEqual([file.path.split('/').pop(), 'escaped.bin'].sort());
    expect(existsSync(join(root, 'escaped.bin'))).toBe(false);
  });
});
