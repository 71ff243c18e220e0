// sendFile (issue 17): a file too large for a message goes as ciphertext to the vault's upload
// service (XEP-0363 slot, ranged checksummed PUTs) and a small sealed manifest (files-manifest.ts)
// goes as an ordinary sealed, signed message under a message id chosen first, so the vault ties the
// blob to that message. The file is sealed into `<dir>/files-out/<id>.sealed` (never held in
// memory) beside a state file; after a crash, `resume()` continues the upload and sends the manifest.
import { parseSlot, slotRequestXml, type Slot } from '../protocol/index.js';
import { createReadStream } from 'node:fs';
import { mkdirSync } from 'node:fs';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Readable } from 'node:stream';
import { AppError } from '../errors/index.js';
import { atomicWriteFile as atomicWrite, fromBase64, newMessageId, toBase64 } from '../keys/index.js';
import type { Logger } from '../log/index.js';
import { bareJid } from '../xmpp/index.js';
import { cipherSizeOf, encryptToFile } from './files-crypto.js';
import { uploadFile, type TransferOptions } from './files-http.js';
import { encodeManifest, FILE_MANIFEST_TYPE, type FileManifest } from './files-manifest.js';
import type { SendOptions, SendResult } from './sender.js';
import type { VaultLink } from './vault-link.js';

export interface SendFileOptions extends TransferOptions {
  /** The name the recipient sees (default: the path's base name, or `file`). */
  name?: string;
  /** MIME type of the file (default application/octet-stream). */
  contentType?: string;
}

export interface SendFileResult extends SendResult {
  size: number;
  /** SHA-256 of the plaintext, base64. */
  sha256: string;
}

export interface FileSenderDeps {
  /** The agent's folder; files in flight are kept under `files-out/`. */
  dir: string;
  link: VaultLink;
  send: (to: string, data: Uint8Array, options: SendOptions & { messageId: string }) => Promise<SendResult>;
  logger: Logger;
}

interface State {
  to: string;
  messageId: string;
  name: string;
  contentType: string;
  sealed?: { key: string; header: string; size: number; sha256: string; cipherSize: number; cipherSha256: string };
  slot?: Slot;
}

export class FileSender {
  private readonly out: string;
  private readonly running = new Map<string, Promise<SendFileResult>>();

  constructor(private readonly d: FileSenderDeps) {
    this.out = join(d.dir, 'files-out');
    mkdirSync(this.out, { recursive: true, mode: 0o700 });
  }

  private paths(id: string): { state: string; sealed: string } {
    return { state: join(this.out, `${id}.json`), sealed: join(this.out, `${id}.sealed`) };
  }

  async sendFile(to: string, input: string | Readable, o: SendFileOptions = {}): Promise<SendFileResult> {
    const recipient = bareJid(to);
    const messageId = newMessageId();
    const name = o.name ?? (typeof input === 'string' ? basename(input) : 'file');
    const state: State = { to: recipient, messageId, name, contentType: o.contentType ?? 'application/octet-stream' };
    const p = this.paths(messageId);
    await atomicWrite(p.state, JSON.stringify(state));
    try {
      // A file of known size is refused (too large, quota) before it is sealed.
      if (typeof input === 'string') state.slot = await this.slot(state, cipherSizeOf((await stat(input)).size));
      const source = typeof input === 'string' ? createReadStream(input, { highWaterMark: 1024 * 1024 }) : input;
      const sealed = await encryptToFile(source, p.sealed);
      state.sealed = { key: toBase64(sealed.key), header: toBase64(sealed.header), size: sealed.size, sha256: sealed.sha256, cipherSize: sealed.cipherSize, cipherSha256: sealed.cipherSha256 };
      sealed.key.fill(0);
      if (state.slot !== undefined && typeof input === 'string' && sealed.cipherSize !== cipherSizeOf((await stat(input)).size))
        state.slot = undefined; // the file changed size meanwhile: ask again for the real size
      await atomicWrite(p.state, JSON.stringify(state));
    } catch (err) {
      await this.forget(messageId);
      throw err;
    }
    return this.track(state, o);
  }

  /** Continues every file send a crash interrupted (called when the agent starts). */
  async resume(o: TransferOptions = {}): Promise<SendFileResult[]> {
    const names = await readdir(this.out).catch(() => [] as string[]);
    const done: SendFileResult[] = [];
    for (const n of names.filter((x) => x.endsWith('.json'))) {
      const id = n.slice(0, -'.json'.length);
      if (this.running.has(id)) continue;
      let state: State;
      try {
        state = JSON.parse(await readFile(this.paths(id).state, 'utf8')) as State;
      } catch {
        continue;
      }
      if (state.sealed === undefined) {
        await this.forget(id); // the crash came while sealing: the application sends it again
        continue;
      }
      try {
        done.push(await this.track(state, o));
      } catch (err) {
        this.d.logger.warn({ messageId: id, error: (err as Error).message }, 'resumed file send failed');
      }
    }
    return done;
  }

  private track(state: State, o: TransferOptions): Promise<SendFileResult> {
    const run = this.finish(state, o).finally(() => this.running.delete(state.messageId));
    this.running.set(state.messageId, run);
    return run;
  }

  private async finish(state: State, o: TransferOptions): Promise<SendFileResult> {
    const sealed = state.sealed as NonNullable<State['sealed']>;
    const p = this.paths(state.messageId);
    try {
      if (state.slot === undefined) {
        state.slot = await this.slot(state, sealed.cipherSize);
        await atomicWrite(p.state, JSON.stringify(state));
      }
      await uploadFile(p.sealed, state.slot, o);
      const manifest: FileManifest = {
        v: 1,
        name: state.name,
        size: sealed.size,
        contentType: state.contentType,
        key: sealed.key,
        header: sealed.header,
        sha256: sealed.sha256,
        cipherSize: sealed.cipherSize,
        cipherSha256: sealed.cipherSha256,
        url: state.slot.getUrl,
      };
      fromBase64('file key', manifest.key, 32); // a damaged state file fails here, not at the recipient
      const sent = await this.d.send(state.to, encodeManifest(manifest), { contentType: FILE_MANIFEST_TYPE, messageId: state.messageId });
      await this.forget(state.messageId);
      return { ...sent, size: sealed.size, sha256: sealed.sha256 };
    } catch (err) {
      // The vault's final word (too large, quota, refused) ends the send; anything else is resumed later.
      if (AppError.is(err) && err.permanent) await this.forget(state.messageId);
      throw err;
    }
  }

  private async slot(state: State, size: number): Promise<Slot> {
    const reply = await this.d.link.iq('get', slotRequestXml({ size, recipient: state.to, messageId: state.messageId }));
    return parseSlot(reply);
  }

  private async forget(id: string): Promise<void> {
    const p = this.paths(id);
    await rm(p.sealed, { force: true });
    await rm(p.state, { force: true });
  }
}
