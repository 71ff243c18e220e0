// The plaintext audit behind invariant 1: look for a canary (and its base64 at every alignment)
// in files (archives raw, Prosody's storage, logs, outboxes), in every Redis key under a prefix,
// and in archives read with their at-rest keys. Used by the tests and by the demo's final check.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The needle and its base64 forms (3 alignments): plaintext leaked encoded is still leaked. */
export function canaryForms(canary: string): string[] {
  const forms = new Set([canary]);
  for (const pad of ['', 'x', 'xy']) {
    const b64 = Buffer.from(pad + canary).toString('base64');
    // Drop the characters that depend on the padding before and on what follows the canary.
    const inner = b64.slice(Math.ceil((pad.length * 4) / 3) + 1, -4);
    if (inner.length >= 16) forms.add(inner);
  }
  return [...forms];
}

export interface Finding {
  where: string;
  form: string;
}

export interface AuditReport {
  scanned: number;
  findings: Finding[];
}

function filesUnder(path: string): string[] {
  let st;
  try {
    st = statSync(path);
  } catch {
    return [];
  }
  if (!st.isDirectory()) return [path];
  return readdirSync(path).flatMap((name) => filesUnder(join(path, name)));
}

/** Scans every file below each path (as bytes, latin1, so binary files are searched too). */
export function scanFiles(paths: readonly string[], forms: readonly string[]): AuditReport {
  const files = paths.flatMap(filesUnder);
  const findings: Finding[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file).toString('latin1');
    } catch {
      continue;
    }
    for (const form of forms) if (text.includes(form)) findings.push({ where: file, form });
  }
  return { scanned: files.length, findings };
}

/** The Redis calls the scan needs (ioredis's client has them). */
export interface RedisScanClient {
  keys(pattern: string): Promise<string[]>;
  type(key: string): Promise<string>;
  getBuffer(key: string): Promise<Buffer | null>;
  hgetall(key: string): Promise<Record<string, string>>;
  lrange(key: string, start: number, stop: number): Promise<string[]>;
  smembers(key: string): Promise<string[]>;
  zrange(key: string, start: number, stop: number): Promise<string[]>;
  xrange(key: string, start: string, end: string): Promise<unknown>;
}

/** Every key under `prefix:*`, whatever its type (job data, completed and failed sets, streams). */
export async function scanRedis(redis: RedisScanClient, prefix: string, forms: readonly string[]): Promise<AuditReport> {
  const keys = await redis.keys(`${prefix}:*`);
  const findings: Finding[] = [];
  for (const key of keys) {
    const type = await redis.type(key);
    let text = '';
    if (type === 'string') text = (await redis.getBuffer(key))?.toString('latin1') ?? '';
    else if (type === 'hash') text = JSON.stringify(await redis.hgetall(key));
    else if (type === 'list') text = JSON.stringify(await redis.lrange(key, 0, -1));
    else if (type === 'set') text = JSON.stringify(await redis.smembers(key));
    else if (type === 'zset') text = JSON.stringify(await redis.zrange(key, 0, -1));
    else if (type === 'stream') text = JSON.stringify(await redis.xrange(key, '-', '+'));
    text += `\n${key}`;
    for (const form of forms) if (text.includes(form)) findings.push({ where: `redis ${key}`, form });
  }
  return { scanned: keys.length, findings };
}

/** Rows as an archive's auditRows returns them; bytes are searched as latin1 text. */
export function scanRows(
  where: string,
  tables: readonly { table: string; rows: readonly Record<string, unknown>[] }[],
  forms: readonly string[],
): AuditReport {
  const text = JSON.stringify(tables, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : v));
  const findings = forms.filter((f) => text.includes(f)).map((form) => ({ where, form }));
  return { scanned: tables.reduce((n, t) => n + t.rows.length, 0), findings };
}
