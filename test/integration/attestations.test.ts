// Key attestations end to end (issue 18, part 2) against a running vault: a device publishes an
// X.509 certificate of its identity key from an organisation's CA; a contact that trusts that CA
// sees the key `verified` with the certificate's subject, one that does not sees it unverified,
// and a policy refuses contacts without one. Attack: a device publishing someone else's genuine
// certificate beside its own key gains nothing. The CLI adds attestations and lists a contact's
// devices without claiming a prekey.
import { join } from 'node:path';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { addOwnAttestation, type ReceivedMessage } from '../../src/agent/index.js';
import { ErrorCode } from '../../src/errors/index.js';
import { certificatesFromPem, displayFingerprint } from '../../src/keys/index.js';
import { pki, type Ca, type Pki } from '../unit/keys/pki.js';
import { createAccount, runNode, services, type Account } from './helpers.js';
import { startAgent, startTestService, type TestAgent } from './service-fixture.js';

describe('key attestations', () => {
  let p: Pki;
  let root: Ca;
  let issuing: Ca;
  let other: Ca;
  beforeAll(() => {
    p = pki();
    root = p.root('Hospital Root');
    issuing = p.intermediate('Hospital Agents CA', root);
    other = p.root('Other Root');
  });
  afterAll(() => p.close());

  /** Issues a certificate of `who`'s identity key (as the directory serves it) and publishes it. */
  async function attest(who: TestAgent, by: TestAgent, ca: Ca = issuing, jid = who.account.jid): Promise<string> {
    const [fetched] = await by.agent.fetchBundles(who.account.jid);
    const pem = p.leaf(fetched?.bundle.identityKey ?? new Uint8Array(32), jid, ca);
    addOwnAttestation(who.dir, { kind: 'x509', chain: [...certificatesFromPem(pem), ...certificatesFromPem(ca.pem)] });
    await who.agent.publishKeys();
    return pem;
  }

  it('a trusted CA makes a contact verified with its subject; untrusted, unattested and swapped keys are not', async () => {
    const ts = await startTestService();
    const alice = await startAgent(ts, 'alice');
    const dave = await startAgent(ts, 'dave');
    const mallory = await startAgent(ts, 'mallory');
    const helper = await startAgent(ts, 'helper');
    const alicePem = await attest(alice, helper);

    const carol = await startAgent(ts, 'carol', { trustedCas: root.pem });
    const [a] = await carol.agent.fetchBundles(alice.account.jid);
    expect(a?.trust).toBe('verified');
    expect(a?.attestation).toEqual({ subject: `CN=${alice.account.jid}, O=Test Hospital`, issuer: 'CN=Hospital Root, O=Test PKI' });

    // The same bundle for an agent trusting another CA: pinned on first use, not verified.
    const erin = await startAgent(ts, 'erin', { trustedCas: other.pem });
    const [e] = await erin.agent.fetchBundles(alice.account.jid);
    expect(e?.trust).toBe('new');
    expect(e?.attestations).toEqual([{ kind: 'x509', ok: false, reason: 'no chain to a trusted CA' }]);

    // Attack: Mallory publishes Alice's genuine certificate chain beside Mallory's own key.
    addOwnAttestation(mallory.dir, { kind: 'x509', chain: [...certificatesFromPem(alicePem), ...certificatesFromPem(issuing.pem)] });
    await mallory.agent.publishKeys();
    const [m] = await carol.agent.fetchBundles(mallory.account.jid);
    expect(m?.trust).toBe('new');
    expect(m?.attestations).toEqual([{ kind: 'x509', ok: false, reason: 'the certificate is for another key than this identity key' }]);

    // The policy: only attested contacts.
    const strict = await startAgent(ts, 'strict', { trustedCas: root.pem, requireAttestation: true });
    await strict.agent.send(alice.account.jid, 'to a verified collector');
    for (const who of [dave, mallory])
      await expect(strict.agent.send(who.account.jid, 'to an unattested one')).rejects.toMatchObject({
        code: ErrorCode.UntrustedKey,
        message: expect.stringMatching(/no attestation from a trusted CA.*the policy requires one/) as unknown,
      });

    // Listing a contact's devices claims nothing and shows the attestation.
    const before = await alice.agent.prekeyCount();
    const [listed] = await carol.agent.directory.devices(alice.account.jid);
    expect(listed).toMatchObject({ device: alice.agent.device, fingerprint: alice.agent.fingerprint, pinned: 'tofu' });
    expect(listed?.attestation?.subject).toBe(`CN=${alice.account.jid}, O=Test Hospital`);
    expect(await alice.agent.prekeyCount()).toBe(before);

    // Messages: from an attested sender, 'verified' with its subject; the strict policy leaves an
    // unattested sender's message at the vault (not acknowledged), and takes the attested one.
    const got: ReceivedMessage[] = [];
    carol.agent.onMessage((msg) => void got.push(msg));
    strict.agent.onMessage((msg) => void got.push(msg));
    const fromAlice = await alice.agent.send(carol.account.jid, 'reading from a verified sensor');
    const fromDave = await dave.agent.send(strict.account.jid, 'from nobody the policy knows');
    const fromAlice2 = await alice.agent.send(strict.account.jid, 'to the strict one');
    const deadline = Date.now() + 20_000;
    while (got.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(got.map((g) => [g.messageId, g.trust, g.attestation?.subject]).sort()).toEqual(
      [
        [fromAlice.messageId, 'verified', `CN=${alice.account.jid}, O=Test Hospital`],
        [fromAlice2.messageId, 'verified', `CN=${alice.account.jid}, O=Test Hospital`],
      ].sort(),
    );
    await new Promise((r) => setTimeout(r, 1000));
    expect(got.map((g) => g.messageId)).not.toContain(fromDave.messageId);
    expect(ts.service.archive.pendingCounts(strict.account.jid).messages).toBe(1);
  });

  it('CLI: keys attest adds and publishes a certificate and an OpenPGP item; keys show --contact lists them', async () => {
    const ts = await startTestService();
    const { xmpp } = services();
    const helper = await startAgent(ts, 'helper');
    const files = mkdtempSync(join(tmpdir(), 'sealpost-attest-'));
    onTestFinished(() => rmSync(files, { recursive: true, force: true }));
    const alice = await createAccount('alice');
    const bob = await createAccount('bob');
    const cli = (who: Account, args: string[]) =>
      runNode(['bin/sealpost.js', ...args, '--jid', who.jid, '--dir', join(files, who.username), '--service', xmpp.service, '--vault', ts.vault.jid], {
        SEALPOST_AGENT_PASSWORD: who.password,
        SEALPOST_PASSPHRASE: `pass of ${who.username}`,
      });
    const init = await cli(alice, ['keys', 'init', '--json']);
    expect(init.code, init.stderr).toBe(0);
    expect((await cli(bob, ['keys', 'init'])).code).toBe(0);
    const [fetched] = await helper.agent.fetchBundles(alice.jid);
    const file = (name: string, text: string): string => {
      writeFileSync(join(files, name), text);
      return join(files, name);
    };
    const cert = file('alice.pem', p.leaf(fetched?.bundle.identityKey ?? new Uint8Array(32), alice.jid, issuing));
    const chain = file('chain.pem', issuing.pem);
    const cas = file('cas.pem', root.pem);
    const armoured = '-----BEGIN PGP SIGNATURE-----\n\niHUEABYKAB0WIQTfake\n=abcd\n-----END PGP SIGNATURE-----\n';

    // Refused before anything is stored: a certificate of another key, or naming another JID.
    const otherKey = file('other.pem', p.leaf(new Uint8Array(32).fill(7), alice.jid, issuing));
    const wrongKey = await cli(alice, ['keys', 'attest', '--cert', otherKey, '--chain', chain]);
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr).toMatch(/certificate refused: the certificate is for another key/);
    const otherJid = file('bob.pem', p.leaf(fetched?.bundle.identityKey ?? new Uint8Array(32), bob.jid, issuing));
    expect((await cli(alice, ['keys', 'attest', '--cert', otherJid])).stderr).toMatch(/names bob-\w+@localhost, not alice-/);

    const attested = await cli(alice, ['keys', 'attest', '--cert', cert, '--chain', chain]);
    expect(attested.code, attested.stderr).toBe(0);
    expect(attested.stderr).toMatch(/1 attestation\(s\) on this device, published/);
    const pgp = await cli(alice, ['keys', 'attest', '--opaque', 'openpgp', '--file', file('sig.asc', armoured)]);
    expect(pgp.code, pgp.stderr).toBe(0);
    expect(pgp.stderr).toMatch(/2 attestation\(s\)/);

    const show = await cli(bob, ['keys', 'show', '--contact', alice.jid, '--trusted-cas', cas]);
    expect(show.code, show.stderr).toBe(0);
    const device = (JSON.parse(init.stdout) as { device: number }).device;
    const row = show.stdout.split('\n').find((l) => l.startsWith(String(device)));
    expect(row).toContain(displayFingerprint(fetched?.bundle.identityKey ?? new Uint8Array(32)));
    expect(row).toMatch(new RegExp(`verified\\s+CN=${alice.jid}, O=Test Hospital \\(CN=Hospital Root, O=Test PKI\\)`));
    expect(show.stdout).toContain(armoured.trimEnd());
    const untrusted = await cli(bob, ['keys', 'show', '--contact', alice.jid, '--json']);
    expect(JSON.parse(untrusted.stdout.trim().split('\n')[0] ?? '{}')).toMatchObject({ device, pinned: 'unknown', attestations: [{ kind: 'x509', ok: false, reason: 'no chain to a trusted CA' }, { kind: 'opaque', label: 'openpgp', text: armoured }] });
  });
});
