// Files on the command line (issue 17): `send --file` above the inline limit goes through sendFile;
// `listen --save DIR` saves each received file into DIR under a name that cannot leave DIR, and
// prints its JSON line once the file is checked; a progress line on a terminal for both.
import { existsSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import type { Agent, ReceivedMessage, TransferOptions } from '../agent/index.js';
import { AppError } from '../errors/index.js';
import type { Output } from './output.js';

/** Files up to this size go inline as one message; larger ones through the upload service. */
export const INLINE_FILE_LIMIT = 160 * 1024;

/** A progress line on stderr when it is a terminal; nothing otherwise. */
export function progress(label: string): TransferOptions['onProgress'] {
  if (process.stderr.isTTY !== true) return undefined;
  let last = 0;
  return (done, total) => {
    const now = Date.now();
    if (done < total && now - last < 100) return;
    last = now;
    const pct = total === 0 ? 100 : Math.floor((done / total) * 100);
    const mib = (n: number): string => (n / 1048576).toFixed(1);
    process.stderr.write(`\r${label} ${String(pct).padStart(3)}% ${mib(done)}/${mib(total)} MiB${done >= total ? '\n' : ''}`);
  };
}

export async function sendFileCommand(agent: Agent, to: string, path: string, contentType: string | undefined, json: boolean | undefined, out: Output): Promise<void> {
  const onProgress = progress(`upload ${path}`);
  const r = await agent.sendFile(to, path, { ...(contentType === undefined ? {} : { contentType }), ...(onProgress === undefined ? {} : { onProgress }) });
  out.result(json ? JSON.stringify({ messageId: r.messageId, to, size: r.size, sha256: r.sha256 }) : r.messageId);
}

/**
 * The file's name inside `dir`: its last path segment, without control, separator or reserved
 * characters and leading dots; a name already taken gets the message id. Always inside `dir`.
 */
export function safeFileName(dir: string, name: string, messageId: string): string {
  const base = (name.split(/[/\\]/).pop() ?? '')
    .replace(/[\u0000-\u001f\u007f<>:"|?*]/g, '_')
    .replace(/^[.\s]+/, '')
    .slice(0, 200)
    .trim();
  const clean = base.length === 0 ? 'file' : base;
  const root = resolve(dir);
  let path = join(root, clean);
  if (existsSync(path)) path = join(root, `${messageId.slice(0, 12).replace(/[^A-Za-z0-9_-]/g, '_')}-${clean}`);
  if (!path.startsWith(root + sep)) throw new Error(`file name escapes ${root}`); // cannot happen: kept as a guard
  return path;
}

/**
 * Saves a file message into `dir`; resolves with its JSON fields. A file that can never be
 * saved (refused by a check) resolves with an `error`, so its message is acknowledged; a
 * transient failure rejects, so the vault delivers it again and the download resumes.
 */
export async function saveReceivedFile(m: ReceivedMessage, dir: string): Promise<Record<string, unknown>> {
  let f: ReturnType<ReceivedMessage['file']>;
  try {
    f = m.file();
  } catch (err) {
    if (AppError.is(err) && err.permanent) return { error: err.message };
    throw err;
  }
  if (f === undefined) return {};
  const path = safeFileName(dir, f.name, m.messageId);
  const onProgress = progress(`download ${f.name}`);
  try {
    const saved = await m.saveTo(path, onProgress === undefined ? {} : { onProgress });
    return { file: { name: f.name, path: saved.path, size: saved.size, contentType: saved.contentType, sha256: saved.sha256 } };
  } catch (err) {
    if (AppError.is(err) && err.permanent) return { file: { name: f.name, size: f.size }, error: err.message };
    throw err;
  }
}
