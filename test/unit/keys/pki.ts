// A throwaway PKI for attestation tests, made with the openssl CLI in a temp dir: a root CA, an
// intermediate, and leaf certificates for a given Ed25519 public key (the device's identity key)
// naming a JID, valid for a given number of days.
import { execFileSync } from 'node:child_process';
import { createPublicKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Ca {
  name: string;
  pem: string;
  cert: X509Certificate;
}

export interface Pki {
  root(name: string): Ca;
  intermediate(name: string, issuer: Ca, options?: { ca?: boolean }): Ca;
  /** A leaf for `publicKey` (raw Ed25519, 32 bytes) naming `jid` (XmppAddr and CN); PEM. */
  leaf(publicKey: Uint8Array, jid: string, issuer: Ca, options?: { days?: number }): string;
  close(): void;
}

export function pki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'sealpost-pki-'));
  let n = 0;
  const file = (name: string): string => join(dir, name);
  const openssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const key = (name: string): string => {
    openssl('genpkey', '-algorithm', 'ed25519', '-out', file(`${name}.key`));
    return file(`${name}.key`);
  };
  const issue = (subject: string, pubkey: string | undefined, issuer: Ca, ext: string, days: number): string => {
    const id = `c${n++}`;
    const csrKey = key(`${id}-csr`);
    writeFileSync(file(`${id}.ext`), ext);
    openssl('req', '-new', '-key', csrKey, '-subj', subject, '-out', file(`${id}.csr`));
    openssl(
      'x509', '-req', '-in', file(`${id}.csr`), '-CA', file(`${issuer.name}.pem`), '-CAkey', file(`${issuer.name}.key`),
      '-set_serial', String(1000 + n), '-days', String(days), '-extfile', file(`${id}.ext`), '-out', file(`${id}.pem`),
      ...(pubkey === undefined ? ['-force_pubkey', csrKey] : ['-force_pubkey', pubkey]),
    );
    return readFileSync(file(`${id}.pem`), 'utf8');
  };
  return {
    root(name) {
      key(name);
      openssl(
        'req', '-x509', '-new', '-key', file(`${name}.key`), '-subj', `/CN=${name}/O=Test PKI`, '-days', '3650', '-out', file(`${name}.pem`),
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      );
      const pem = readFileSync(file(`${name}.pem`), 'utf8');
      return { name, pem, cert: new X509Certificate(pem) };
    },
    intermediate(name, issuer, options = {}) {
      key(name);
      openssl('pkey', '-in', file(`${name}.key`), '-pubout', '-out', file(`${name}.pub`));
      const ca = options.ca ?? true;
      const ext = ca ? 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n' : 'basicConstraints=critical,CA:FALSE\n';
      const pem = issue(`/CN=${name}/O=Test PKI`, file(`${name}.pub`), issuer, ext, 365);
      writeFileSync(file(`${name}.pem`), pem);
      return { name, pem, cert: new X509Certificate(pem) };
    },
    leaf(publicKey, jid, issuer, options = {}) {
      const id = `k${n++}`;
      const spki = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') }, format: 'jwk' });
      writeFileSync(file(`${id}.pub`), spki.export({ type: 'spki', format: 'pem' }));
      const ext = `subjectAltName=otherName:1.3.6.1.5.5.7.8.5;UTF8:${jid}\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n`;
      return issue(`/CN=${jid}/O=Test Hospital`, file(`${id}.pub`), issuer, ext, options.days ?? 365);
    },
    close: () => rmSync(dir, { recursive: true, force: true }),
  };
}
