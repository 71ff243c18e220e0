// `sealpost keys attest` and `sealpost keys show --contact` (issue 18, part 2): add what vouches
// for this device's key (an X.509 certificate of its identity key naming its JID, or an opaque
// labelled item such as an armoured OpenPGP signature) and publish it; list a contact's devices with
// fingerprint, trust and attestations, judged against the CAs given by --trusted-cas.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { addOwnAttestation, createAgent, type ContactDevice } from '../agent/index.js';
import { AppError, ErrorCode } from '../errors/index.js';
import { AgentKeyFile, certificatesFromPem, checkAttestationShape, initSodium, verifyX509Attestation, type Attestation, type X509Attestation } from '../keys/index.js';
import { parseJid } from '../xmpp/index.js';
import { addAgentOptions, agentDir, agentOptions, keySecret, type AgentFlags } from './agent-options.js';
import { print, table, type Output } from './output.js';

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (cause) {
    throw new AppError(ErrorCode.BadInput, `cannot read ${what} ${path}`, { cause });
  }
}

/** The attestation the flags describe, checked against this device's key and JID where it can be. */
async function attestationFromFlags(flags: AttestFlags): Promise<Attestation> {
  if (flags.cert !== undefined) {
    const chain = [...certificatesFromPem(readText(flags.cert, 'certificate')), ...(flags.chain === undefined ? [] : certificatesFromPem(readText(flags.chain, 'chain')))];
    const att: X509Attestation = { kind: 'x509', chain };
    checkAttestationShape(att);
    await initSodium(flags.crypto);
    const path = join(agentDir(flags), 'keys.sealpost');
    if (!existsSync(path)) throw new AppError(ErrorCode.NotFound, `no key file at ${path}; run \`sealpost keys init\` first`);
    const file = await AgentKeyFile.open(path, keySecret());
    const { jid, publicKey } = file.state.identity;
    file.close();
    // No CA is trusted here (contacts judge it with theirs): every other check must pass.
    const r = verifyX509Attestation(att, { jid, identityKey: publicKey, trustedCas: [], now: Date.now() });
    if (!r.ok && r.reason !== 'no chain to a trusted CA') throw new AppError(ErrorCode.BadInput, `certificate refused: ${r.reason}`);
    return att;
  }
  if (flags.opaque !== undefined) {
    if (flags.file === undefined) throw new AppError(ErrorCode.BadInput, '--opaque needs --file with the item (e.g. an armoured signature)');
    return checkAttestationShape({ kind: 'opaque', label: flags.opaque, text: readText(flags.file, 'file') });
  }
  throw new AppError(ErrorCode.BadInput, 'give --cert (X.509, PEM) or --opaque <label> --file <path>');
}

interface AttestFlags extends AgentFlags {
  cert?: string;
  chain?: string;
  opaque?: string;
  file?: string;
  offline?: boolean;
}

export function attestCommand(keys: Command, out: Output): void {
  addAgentOptions(keys.command('attest').description("add an attestation to this device's bundle and publish it"))
    .option('--cert <pem>', "an X.509 certificate of this device's identity key naming its JID (PEM, leaf first)")
    .option('--chain <pem>', 'intermediate CA certificates to send along (PEM)')
    .option('--opaque <label>', 'an opaque item instead, e.g. openpgp, from --file')
    .option('--file <path>', 'the text of the opaque item (e.g. an ASCII-armoured signature)')
    .option('--offline', 'only record it; the next publish sends it')
    .action(async (flags: AttestFlags) => {
      const attestation = await attestationFromFlags(flags);
      const online = flags.offline ? undefined : agentOptions(flags);
      const list = addOwnAttestation(agentDir(flags), attestation);
      if (online !== undefined) {
        const agent = await createAgent(online);
        try {
          await agent.publishKeys();
        } finally {
          await agent.stop();
        }
      }
      out.info(`${list.length} attestation(s) on this device${online === undefined ? '' : ', published'}`);
    });
}

/** `keys show --contact JID`: every published device of the contact; claims nothing. */
export async function showContact(contact: string, flags: AgentFlags & { json?: boolean }, out: Output): Promise<void> {
  const agent = await createAgent(agentOptions(flags));
  let devices: ContactDevice[];
  try {
    devices = await agent.directory.devices(parseJid(contact).bare);
  } finally {
    await agent.stop();
  }
  if (flags.json) {
    for (const d of devices) print(out, true, { ...d });
    return;
  }
  table(
    out,
    ['device', 'fingerprint', 'trust', 'attested by'],
    devices.map((d) => [d.device, d.fingerprint, d.attestation === undefined ? d.pinned : 'verified', d.attestation === undefined ? '' : `${d.attestation.subject} (${d.attestation.issuer})`]),
  );
  for (const d of devices)
    for (const a of d.attestations) {
      if (a.kind === 'opaque') out.result(`\ndevice ${d.device}, ${a.label} (check it yourself):\n${a.text.trimEnd()}`);
      else if (!a.ok) out.result(`device ${d.device}: X.509 attestation not accepted: ${a.reason}`);
    }
}
