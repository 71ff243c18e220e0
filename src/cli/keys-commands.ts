// `sealpost keys init|publish|show|attest|verify|rotate`: a device's keys from the command line. init
// writes the encrypted key file and publishes it (a contact can send at once); show works offline;
// verify marks a contact's key as checked in person; rotate makes a new signed prekey and publishes it.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { createAgent, type Agent, type AgentOptions } from '../agent/index.js';
import { AppError, ErrorCode } from '../errors/index.js';
import {
  AgentKeyFile,
  checkArchiveSuite,
  createAgentKeys,
  currentSignedPrekey,
  displayFingerprint,
  FileTrustStore,
  initSodium,
  parseFingerprint,
} from '../keys/index.js';
import { parseJid } from '../xmpp/index.js';
import { attestCommand, showContact } from './attest-commands.js';
import { addAgentOptions, agentDir, agentOptions, keySecret, type AgentFlags } from './agent-options.js';
import { print, type Output } from './output.js';

/** Starting an agent publishes its bundle when the directory has none (or too few prekeys). */
async function publish(options: AgentOptions, path: string): Promise<number | undefined> {
  let agent: Agent;
  try {
    agent = await createAgent(options);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new AppError(AppError.is(err) ? err.code : ErrorCode.Unavailable, `keys in ${path} are not published (${reason}); run \`sealpost keys publish\` when the vault is reachable`, { cause: err });
  }
  try {
    return await agent.prekeyCount();
  } finally {
    await agent.stop();
  }
}

export function keysCommands(program: Command, out: Output): void {
  const keys = program.command('keys').description("this device's keys: init, show, verify a contact, rotate");

  addAgentOptions(keys.command('init').description('create the encrypted key file of a new device and publish its keys'))
    .option('--no-archive-key', 'publish no archive key (no history copy: transit only)')
    .option('--archive-suite <suite>', 'archive key suite: sp1-xwing (post-quantum, default) or sp1 (X25519)', 'sp1-xwing')
    .option('--offline', 'only write the key file; the first listen, send or `keys publish` publishes it')
    .option('--json', 'print JSON')
    .action(async (flags: AgentFlags & { archiveKey: boolean; archiveSuite: string; offline?: boolean; json?: boolean }) => {
      await initSodium(flags.crypto);
      const archiveSuite = checkArchiveSuite(flags.archiveSuite, '--archive-suite');
      const jid = parseJid(flags.jid).bare;
      const dir = agentDir(flags);
      const path = join(dir, 'keys.sealpost');
      if (existsSync(path)) throw new AppError(ErrorCode.Policy, `${path} already exists; refusing to overwrite a device's keys`);
      const secret = keySecret();
      // Checked before the file is written: a missing XMPP password must not leave keys unpublished.
      const online = flags.offline ? undefined : agentOptions(flags);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const file = await AgentKeyFile.create(path, secret, createAgentKeys({ jid, now: Date.now(), archiveKey: flags.archiveKey, archiveSuite }));
      const s = file.state;
      const record = { jid, device: s.identity.device, fingerprint: displayFingerprint(s.identity.publicKey), file: path };
      file.close();
      if (online !== undefined) await publish(online, path);
      print(out, flags.json, { ...record, published: online !== undefined });
    });

  addAgentOptions(keys.command('publish').description("publish this device's keys (as the first start of an agent does)"))
    .action(async (flags: AgentFlags) => {
      const path = join(agentDir(flags), 'keys.sealpost');
      if (!existsSync(path)) throw new AppError(ErrorCode.NotFound, `no key file at ${path}; run \`sealpost keys init\` first`);
      const remaining = await publish(agentOptions(flags), path);
      out.info(`published; the directory holds ${remaining ?? 0} one-time prekey(s) of this device`);
    });

  addAgentOptions(keys.command('show').description("print the device id, fingerprint and prekey state, or a contact's devices"))
    .option('--contact <jid>', "list a contact's devices: fingerprint, trust, attestations (judged by --trusted-cas)")
    .option('--json', 'print JSON')
    .action(async (flags: AgentFlags & { json?: boolean; contact?: string }) => {
      if (flags.contact !== undefined) return showContact(flags.contact, flags, out);
      await initSodium(flags.crypto);
      const path = join(agentDir(flags), 'keys.sealpost');
      if (!existsSync(path)) throw new AppError(ErrorCode.NotFound, `no key file at ${path}; run \`sealpost keys init\` first`);
      const file = await AgentKeyFile.open(path, keySecret());
      const s = file.state;
      const spk = currentSignedPrekey(s);
      print(out, flags.json, {
        jid: s.identity.jid,
        device: s.identity.device,
        fingerprint: displayFingerprint(s.identity.publicKey),
        signedPrekey: { id: spk.id, expires: new Date(spk.expires).toISOString() },
        oneTimePrekeys: s.oneTimePrekeys.length,
        archiveKey: s.archiveKey === undefined ? null : s.archiveKey.id,
        archiveSuite: s.archiveKey === undefined ? null : (s.archiveKey.suite ?? 'sp1'),
      });
      file.close();
    });

  attestCommand(keys, out);

  addAgentOptions(keys.command('verify').description("mark a contact's key verified after comparing fingerprints"))
    .argument('<contact>', "the contact's bare JID")
    .argument('<device>', "the contact's device id")
    .argument('<fingerprint>', 'the fingerprint the contact read out (64 hex digits, any spacing)')
    .action(async (contact: string, device: string, fp: string, flags: AgentFlags) => {
      await initSodium(flags.crypto);
      const id = Number(device);
      if (!Number.isInteger(id) || id < 1) throw new AppError(ErrorCode.BadInput, `device must be a positive integer, got ${device}`);
      const trust = await FileTrustStore.open(join(agentDir(flags), 'trust.json'));
      const rec = await trust.markVerified(parseJid(contact).bare, id, parseFingerprint(fp), Date.now());
      out.info(`verified ${rec.jid} device ${rec.device}: ${displayFingerprint(rec.identityKey)}`);
    });

  addAgentOptions(keys.command('rotate').description('make a new signed prekey and publish it'))
    .action(async (flags: AgentFlags) => {
      const agent = await createAgent(agentOptions(flags));
      try {
        const id = await agent.rotateSignedPrekey();
        out.info(`published signed prekey ${id}`);
      } finally {
        await agent.stop();
      }
    });
}
