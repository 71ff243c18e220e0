// Attacks on files through the vault (issue 17), made as an attacker would against a running vault
// (real Prosody, Redis, files): raw HTTP to the upload listener, raw XMPP for slots, and a sender
// who crafts its own manifests and ciphertext. Each is refused clearly, and an honest file from
// Alice to Bob still arrives intact afterwards (nothing else harmed).
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { ReceivedMessage } from '../../src/agent/index.js';
import { encryptToFile } from '../../src/agent/files-crypto.js';
import { uploadFile } from '../../src/agent/files-http.js';
import { encodeManifest, FILE_MANIFEST_TYPE, type FileManifest } from '../../src/agent/files-manifest.js';
import { newMessageId, STREAM_ABYTES, toBase64 } from '../../src/keys/index.js';
import { parseSlot, slotRequestXml, type Slot } from '../../src/protocol/index.js';
import { StanzaError, xml, type XmppConnection } from '../../src/xmpp/index.js';
import { blobsOn, honestFileArrives, randomFile, tempDir } from '../integration/files-fixture.js';
import { connect, connectFreshAccount } from '../integration/helpers.js';
import { startAgent, startTestService, type TestAgent, type TestService } from '../integration/service-fixture.js';

interface Reply {
  status: number;
  text: string;
}

/** One raw HTTP request; `body` may be cut short (`abortAfter` bytes, then the socket is destroyed). */
function http(url: string, method: string, headers: Record<string, string>, body?: Buffer, abortAfter?: number): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers });
    req.on('response', (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: text.trim() }));
    });
    req.on('error', (err) => (abortAfter === undefined ? reject(err) : resolve({ status: 0, text: err.message })));
    if (abortAfter !== undefined && body !== undefined) {
      req.write(body.subarray(0, abortAfter), () => setTimeout(() => req.destroy(), 100));
      return;
    }
    req.end(body);
  });
}

function refused(r: Reply, status: number, text: RegExp): void {
  expect(r.status).toBe(status);
  expect(r.text).toMatch(text);
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('base64');

async function slotFor(conn: XmppConnection, ts: TestService, recipient: string, size: number, messageId = newMessageId()): Promise<Slot & { messageId: string }> {
  const reply = await conn.sendReceive(xml('iq', { type: 'get', to: ts.service.conn.jid }, slotRequestXml({ size, recipient, messageId })));
  return { ...parseSlot(reply.getChildElements()[0]), messageId };
}

/** A vault with Alice and Bob (offline), and a check that an honest file still goes through. */
async function world(): Promise<{ ts: TestService; alice: TestAgent; bob: TestAgent; honest: () => Promise<void> }> {
  const ts = await startTestService();
  const alice = await startAgent(ts, 'alice');
  const bob = await startAgent(ts, 'bob');
  await bob.agent.stop();
  const honest = (): Promise<void> => honestFileArrives(alice, bob);
  return { ts, alice, bob, honest };
}

describe('attacks on the upload listener', () => {
  it('refuses a PUT without a valid token, to another user\'s slot, over the announced size, with a tampered chunk or a truncated body; the slot and others are unharmed', async () => {
    const { ts, alice, bob, honest } = await world();
    const body = randomBytes(64 * 1024);
    // Alice's raw session (another resource of her account) takes a slot for Bob.
    const aliceRaw = await connect(alice.account, 'raw');
    const slot = await slotFor(aliceRaw, ts, bob.account.jid, body.length);
    const range = `bytes 0-${body.length - 1}/${body.length}`;
    const good = { 'content-range': range, 'x-sealpost-sha256': sha(body) };

    // No token, a wrong token, the GET token used for PUT.
    refused(await http(slot.putUrl, 'PUT', good, body), 403, /token/);
    expect((await http(slot.putUrl, 'PUT', { ...good, authorization: `Bearer ${randomBytes(32).toString('base64url')}` }, body)).status).toBe(403);
    expect((await http(slot.putUrl, 'PUT', { ...good, authorization: `Bearer ${slot.getUrl.split('/').pop() ?? ''}` }, body)).status).toBe(403);
    // Mallory's own valid token against Alice's slot.
    const mallory = await connectFreshAccount('mallory');
    const hers = await slotFor(mallory.conn, ts, bob.account.jid, body.length);
    expect((await http(slot.putUrl, 'PUT', { ...good, authorization: hers.authorization }, body)).status).toBe(403);
    // Over the announced size: a range past it, a body longer than its range, a slot over the maximum.
    const big = Buffer.concat([body, randomBytes(10)]);
    const auth = { authorization: slot.authorization };
    expect(await http(slot.putUrl, 'PUT', { ...auth, 'content-range': `bytes 0-${big.length - 1}/${body.length}`, 'x-sealpost-sha256': sha(big) }, big)).toMatchObject({ status: 413 });
    expect((await http(slot.putUrl, 'PUT', { ...auth, 'x-sealpost-sha256': sha(big), 'transfer-encoding': 'chunked', 'content-range': range }, big)).status).toBe(413);
    const tooLarge = slotFor(mallory.conn, ts, bob.account.jid, ts.config.maxFileBytes + 1);
    await expect(tooLarge).rejects.toThrow(StanzaError);
    const err = await tooLarge.then(() => new StanzaError('none', undefined, 'a slot was granted'), (e: unknown) => e as StanzaError);
    expect(err.condition).toBe('resource-constraint');
    expect(err.text).toMatch(/file-too-large/);
    // A tampered chunk (its checksum is of other bytes) and a truncated body: refused, nothing kept.
    const tampered = Buffer.from(body);
    tampered[100] = (tampered[100] ?? 0) ^ 1;
    refused(await http(slot.putUrl, 'PUT', { ...auth, ...good }, tampered), 400, /checksum/);
    await http(slot.putUrl, 'PUT', { ...auth, ...good, 'content-length': String(body.length) }, body, 1000);
    const head = await new Promise<string | undefined>((resolve) =>
      request(slot.putUrl, { method: 'HEAD', headers: auth }, (res) => resolve(res.headers['x-sealpost-received'] as string | undefined)).end(),
    );
    expect(head).toBe('0');
    const stored = blobsOn(ts.dataDir).map((b) => b.size);
    expect(stored).toEqual([0, 0]); // Alice's and Mallory's slots, both still empty
    // The slot still takes its honest upload, and an honest file goes through.
    expect((await http(slot.putUrl, 'PUT', { ...auth, ...good }, body)).status).toBe(201);
    expect((await http(slot.putUrl, 'PUT', { ...auth, ...good }, body)).status).toBe(409); // complete: no overwrite
    await honest();
  });

  it('serves a blob only with its GET token; paths outside the store are not found', async () => {
    const { ts, alice, bob } = await world();
    const dir = tempDir('sealpost-get-');
    const file = await randomFile(dir, 1);
    await alice.agent.sendFile(bob.account.jid, file.path);
    const [blob] = blobsOn(ts.dataDir);
    const parts = (blob?.path ?? '').split('/');
    const slot = (parts.pop() ?? '').replace(/\.blob$/, '');
    const user = (parts.pop() ?? '').replace(/\.files$/, '');
    const base = `${ts.service.upload?.url ?? ''}/files/${user}/${slot}`;
    expect((await http(`${base}/${randomBytes(32).toString('base64url')}`, 'GET', {})).status).toBe(403);
    expect((await http(base, 'GET', {})).status).toBe(403); // the PUT URL without its token
    expect((await http(`${ts.service.upload?.url ?? ''}/files/${user}/../../keyring.db`, 'GET', {})).status).toBe(404);
  });
});

describe('attacks by a sender crafting files', () => {
  /** Alice's raw session uploads `cipher` to a slot for Bob, then her agent sends `manifest(url)` under the slot's message id. */
  async function craft(ts: TestService, alice: TestAgent, bob: TestAgent, cipher: Buffer, manifest: (url: string) => FileManifest): Promise<void> {
    const dir = tempDir('sealpost-craft-');
    const raw = await connect(alice.account, 'raw');
    const slot = await slotFor(raw, ts, bob.account.jid, cipher.length);
    writeFileSync(join(dir, 'c'), cipher);
    await uploadFile(join(dir, 'c'), slot);
    await alice.agent.send(bob.account.jid, encodeManifest(manifest(slot.getUrl)), { contentType: FILE_MANIFEST_TYPE, messageId: slot.messageId });
  }

  it('a tampered chunk, a truncated stream and a manifest whose hash does not match are refused by saveTo; nothing is written; the next honest file arrives', async () => {
    const { ts, alice, bob, honest } = await world();
    const dir = tempDir('sealpost-crafted-');
    const plain = randomBytes(300 * 1024);
    const sealed = await encryptToFile(Readable.from([plain]), join(dir, 'sealed'));
    const cipher = readFileSync(join(dir, 'sealed'));
    const base = (url: string, c: Buffer, size = plain.length): FileManifest => ({
      v: 1,
      name: 'crafted.bin',
      size,
      contentType: 'application/octet-stream',
      key: toBase64(sealed.key),
      header: toBase64(sealed.header),
      sha256: sha(plain),
      cipherSize: c.length,
      cipherSha256: sha(c),
      url,
    });
    // 1. A tampered chunk whose manifest hashes match the tampered bytes: only the stream's MAC can tell.
    const tampered = Buffer.from(cipher);
    tampered[70_000] = (tampered[70_000] ?? 0) ^ 1;
    await craft(ts, alice, bob, tampered, (url) => base(url, tampered));
    // 2. A truncated stream: the first four chunks only, the final one dropped; sizes and hashes made to fit.
    const cut = cipher.subarray(0, 4 * (64 * 1024 + STREAM_ABYTES));
    await craft(ts, alice, bob, cut, (url) => base(url, cut, 4 * 64 * 1024));
    // 3. A manifest whose plaintext hash does not match the file.
    await craft(ts, alice, bob, cipher, (url) => ({ ...base(url, cipher), sha256: sha(randomBytes(8)) }));
    // 4. A manifest whose ciphertext hash does not match the blob.
    await craft(ts, alice, bob, cipher, (url) => ({ ...base(url, cipher), cipherSha256: sha(randomBytes(8)) }));

    const outcomes: string[] = [];
    const targets: string[] = [];
    const b = await bob.reopen({
      onMessage: async (m: ReceivedMessage) => {
        if (m.file()?.name !== 'crafted.bin') return;
        const target = join(dir, `out-${outcomes.length}.bin`);
        targets.push(target);
        // The application acknowledges refused files (they can never open); saveTo must reject.
        outcomes.push(await m.saveTo(target).then(() => 'saved', (err: Error) => err.message));
      },
    });
    await expect.poll(() => outcomes.length, { timeout: 30_000 }).toBe(4);
    expect(outcomes[0]).toMatch(/does not authenticate/);
    expect(outcomes[1]).toMatch(/truncated/);
    expect(outcomes[2]).toMatch(/does not match the manifest's hash/);
    expect(outcomes[3]).toMatch(/does not match the manifest's ciphertext hash/);
    for (const t of targets) expect(existsSync(t)).toBe(false);
    await b.stop();
    await honest();
  });
});
