// `sealpost keys init|show|verify|rotate`: a device's keys from the command line. init and show
// work offline on the encrypted key file; verify marks a contact's key as checked in person;
// rotate makes a new signed prekey and publishes it.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { createAgent } from '../agent/index.js';
import { AppError, ErrorCode } from '../errors/index.js';
import {
  AgentKeyFile,
  createAgentKeys,
  currentSignedPrekey,
  displayFingerprint,
  FileTrustStore,
  initSodium,
  parseFingerprint,
} from '../keys/index.js';
import { parseJid } from '../xmpp/index.js';
import { addAgentOptions, agentDir, agentOptions, keySecret, type AgentFlags } from './agent-options.js';
import { print, type Output } from './output.js';

export function keysCommands(program: Command, out: Output): void {
  const keys = program.command('keys').description("this device's keys: init, show, verify a contact, rotate");

  addAgentOptions(keys.command('init').description('create the encrypted key file of a new device'))
    .option('--no-archive-key', 'publish no archive key (no history copy: transit only)')
    .option('--json', 'print JSON')
    .action(async (flags: AgentFlags & { archiveKey: boolean; json?: boolean }) => {
      await initSodium();
      const jid = parseJid(flags.jid).bare;
      const dir = agentDir(flags);
      const path = join(dir, 'keys.sealpost');
      if (existsSync(path)) throw new AppError(ErrorCode.Policy, `${path} already exists; refusing to overwrite a device's keys`);
      const secret = keySecret();
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const file = await AgentKeyFile.create(path, secret, createAgentKeys({ jid, now: Date.now(), archiveKey: flags.archiveKey }));
      const s = file.state;
      print(out, flags.json, { jid, device: s.identity.device, fingerprint: displayFingerprint(s.identity.publicKey), file: path });
      file.close();
    });

  addAgentOptions(keys.command('show').description('print the device id, fingerprint and prekey state'))
    .option('--json', 'print JSON')
    .action(async (flags: AgentFlags & { json?: boolean }) => {
      await initSodium();
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
      });
      file.close();
    });

  addAgentOptions(keys.command('verify').description("mark a contact's key verified after comparing fingerprints"))
    .argument('<contact>', "the contact's bare JID")
    .argument('<device>', "the contact's device id")
    .argument('<fingerprint>', 'the fingerprint the contact read out (64 hex digits, any spacing)')
    .action(async (contact: string, device: string, fp: string, flags: AgentFlags) => {
      await initSodium();
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
