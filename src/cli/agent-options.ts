// Options shared by the CLI's agent commands (keys, send, listen, history): which account, which
// vault, where the device's files live, and how its key file is unlocked. Secrets come from the
// environment or a file, never from the command line where `ps` would show them.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import type { AgentOptions } from '../agent/index.js';
import { cryptoChoiceFromEnv } from '../config/index.js';
import { AppError, ErrorCode } from '../errors/index.js';
import type { CryptoChoice, KeyStoreSecret } from '../keys/index.js';
import { parseJid } from '../xmpp/index.js';

export interface AgentFlags {
  jid: string;
  service: string;
  vault: string;
  dir?: string;
  crypto: CryptoChoice;
  trustedCas?: string;
  requireAttestation?: boolean;
}

export function addAgentOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--jid <jid>', 'this agent\'s XMPP account (bare JID); password from SEALPOST_AGENT_PASSWORD or SEALPOST_AGENT_PASSWORD_FILE')
    .option('--service <url>', 'XMPP server', process.env.SEALPOST_XMPP_SERVICE ?? 'xmpp://127.0.0.1:5222')
    .option('--vault <jid>', "the vault's bare JID", process.env.SEALPOST_VAULT_JID ?? 'vault@localhost')
    .option('--dir <path>', "this device's folder (keys, trust, outbox); default ~/.sealpost/<jid>")
    .option('--trusted-cas <pem>', "CA certificates whose attestations make a contact's key verified (PEM file)")
    .option('--require-attestation', 'refuse contacts without an attestation from a trusted CA')
    .addOption(
      new Option('--crypto <backend>', 'libsodium backend (default SEALPOST_CRYPTO, else auto)')
        .choices(['auto', 'native', 'wasm'])
        .default(cryptoChoiceFromEnv()),
    );
}

function fromEnvOrFile(name: string): string | undefined {
  const direct = process.env[name];
  if (direct !== undefined && direct !== '') return direct;
  const file = process.env[`${name}_FILE`];
  if (file === undefined || file === '') return undefined;
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (cause) {
    throw new AppError(ErrorCode.Config, `cannot read ${name}_FILE (${file})`, { cause });
  }
}

export function agentDir(flags: AgentFlags): string {
  return flags.dir ?? join(homedir(), '.sealpost', parseJid(flags.jid).bare);
}

/** The key file's secret: SEALPOST_PASSPHRASE(_FILE), required. */
export function keySecret(): KeyStoreSecret {
  const passphrase = fromEnvOrFile('SEALPOST_PASSPHRASE');
  if (passphrase === undefined)
    throw new AppError(ErrorCode.Config, 'set SEALPOST_PASSPHRASE or SEALPOST_PASSPHRASE_FILE to unlock the key file');
  return { passphrase };
}

function readTrustedCas(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (cause) {
    throw new AppError(ErrorCode.Config, `cannot read --trusted-cas ${path}`, { cause });
  }
}

export function agentOptions(flags: AgentFlags): AgentOptions {
  const jid = parseJid(flags.jid);
  if (jid.local === undefined) throw new AppError(ErrorCode.BadInput, `--jid ${flags.jid}: expected user@domain`);
  const password = fromEnvOrFile('SEALPOST_AGENT_PASSWORD');
  if (password === undefined)
    throw new AppError(ErrorCode.Config, 'set SEALPOST_AGENT_PASSWORD or SEALPOST_AGENT_PASSWORD_FILE for the XMPP login');
  return {
    xmpp: { service: flags.service, domain: jid.domain, username: jid.local, password },
    vault: flags.vault,
    dir: agentDir(flags),
    secret: keySecret(),
    crypto: flags.crypto,
    ...(flags.trustedCas === undefined ? {} : { trustedCas: readTrustedCas(flags.trustedCas) }),
    ...(flags.requireAttestation === true ? { requireAttestation: true } : {}),
  };
}
