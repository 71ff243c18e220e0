// Attestations in the key directory (issue 18, part 2): published beside a bundle, kept opaque,
// replaced by the next publish, handed out with each claimed entry and with the device list (which
// claims nothing), removed with the device; their XML form is bounded before anything is decoded.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openDirectoryStore, type DirectoryStore } from '../../../src/directory/index.js';
import { AppError } from '../../../src/errors/index.js';
import { createAgentKeys, decodeBundle, initSodium, publicBundle, randomBytes, bundleToWire, type Attestation } from '../../../src/keys/index.js';
import { attestationsFromXml, attestationToXml, NS } from '../../../src/protocol/index.js';
import { xml } from '../../../src/xmpp/index.js';

const x509: Attestation = { kind: 'x509', chain: [Uint8Array.of(0x30, 1, 2, 3), Uint8Array.of(0x30, 9)] };
const pgp: Attestation = { kind: 'opaque', label: 'openpgp', text: '-----BEGIN PGP SIGNATURE-----\n\niHUEABYKAB0WIQ==\n-----END PGP SIGNATURE-----\n' };

describe('attestations in the directory', () => {
  let dir: string;
  let store: DirectoryStore;
  beforeAll(async () => initSodium());
  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const open = (): DirectoryStore => {
    dir = mkdtempSync(join(tmpdir(), 'sealpost-dir-'));
    return (store = openDirectoryStore({ path: join(dir, 'directory.db'), key: randomBytes(32), cipher: 'chacha20' }));
  };
  const bundle = (jid: string) => decodeBundle(bundleToWire(publicBundle(createAgentKeys({ jid, now: Date.now(), oneTimePrekeys: 3 }), 100)));

  it('keeps what was published with the bundle, hands it out with claims and with the device list, replaces and removes it', () => {
    const s = open();
    const b = bundle('alice@example.org');
    s.publish(b, 1000, 32, [x509, pgp]);
    const [claimed] = s.claim('alice@example.org', 1, 32);
    expect(claimed?.attestations).toEqual([x509, pgp]);
    const [listed] = s.published('alice@example.org', 32);
    expect(listed).toMatchObject({ device: b.device, identityKey: b.identityKey, attestations: [x509, pgp] });
    expect(s.count('alice@example.org', b.device)).toBe(2); // listing claimed nothing
    s.publish(b, 2000, 32, [pgp]);
    expect(s.published('alice@example.org', 32)[0]?.attestations).toEqual([pgp]);
    s.publish(b, 3000, 32);
    expect(s.claim('alice@example.org', 1, 32)[0]?.attestations).toEqual([]);
    s.publish(b, 4000, 32, [x509]);
    s.remove('alice@example.org', b.device);
    s.publish(b, 5000, 32);
    expect(s.published('alice@example.org', 32)[0]?.attestations).toEqual([]);
  });

  it('round-trips the XML form and refuses what is out of bounds', () => {
    open();
    const el = xml('publish', { xmlns: NS.keys }, attestationToXml(x509), attestationToXml(pgp));
    expect(attestationsFromXml(el)).toEqual([x509, pgp]);
    const bad = (...children: ReturnType<typeof xml>[]) => () => attestationsFromXml(xml('publish', { xmlns: NS.keys }, ...children));
    const att = (attrs: Record<string, string>, ...c: (ReturnType<typeof xml> | string)[]) => xml('attestation', { xmlns: NS.keys, ...attrs }, ...c);
    expect(bad(...Array.from({ length: 5 }, () => attestationToXml(pgp)))).toThrow(/at most 4 attestations/);
    expect(bad(att({ kind: 'x509' }))).toThrow(/1 to 4 <cert\/>/);
    expect(bad(att({ kind: 'x509' }, xml('cert', {}, 'not base64!')))).toThrow(AppError);
    expect(bad(att({ kind: 'x509' }, xml('cert', {}, Buffer.alloc(5000).toString('base64'))))).toThrow(/larger than 4096/);
    expect(bad(att({ kind: 'x509' }, xml('cert', {}, Buffer.alloc(3000).toString('base64')), xml('cert', {}, Buffer.alloc(3000).toString('base64'))))).toThrow(/at most 4096 per device/);
    expect(bad(att({ kind: 'opaque', label: 'openpgp' }, xml('b')))).toThrow(/text only/);
    expect(bad(att({ kind: 'opaque' }, 'x'))).toThrow(/label/);
    expect(bad(att({ kind: 'magic' }))).toThrow(/kind must be/);
  });
});
