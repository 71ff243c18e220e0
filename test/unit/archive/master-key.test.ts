// Master key loading: env or file in production (Config error without), a generated 0600 file
// with a loud warning in development, stable across restarts; subkeys independent per label.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadMasterKey } from '../../../src/archive/index.js';
import { deriveArchiveSubkeys } from '../../../src/archive/master-key.js';
import { AppError, ErrorCode } from '../../../src/errors/index.js';
import { createLogger, silentLogger, type Logger } from '../../../src/log/index.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sealpost-mk-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function capture(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: createLogger({ destination: { write: (s: string) => lines.push(s) } }), lines };
}

const dev = (extra = {}) => ({ mode: 'development' as const, dataDir: join(dir, 'data'), ...extra });
const prod = (extra = {}) => ({ mode: 'production' as const, dataDir: join(dir, 'data'), ...extra });

describe('loadMasterKey', () => {
  it('decodes a base64 env value of 32 bytes, standard or URL-safe', async () => {
    const key = randomBytes(32);
    expect(Buffer.from(await loadMasterKey(prod({ masterKey: key.toString('base64') }), silentLogger()))).toEqual(key);
    expect(Buffer.from(await loadMasterKey(prod({ masterKey: key.toString('base64url') }), silentLogger()))).toEqual(key);
  });

  it.each([
    ['31 bytes', randomBytes(31).toString('base64')],
    ['33 bytes', randomBytes(33).toString('base64')],
    ['not base64', '!'.repeat(44)],
  ])('refuses an env value of %s with Config', async (_n, value) => {
    const err = await loadMasterKey(prod({ masterKey: value }), silentLogger()).catch((e: unknown) => e);
    expect(AppError.is(err, ErrorCode.Config)).toBe(true);
  });

  it('reads a key file holding base64 text or 32 raw bytes', async () => {
    const key = randomBytes(32);
    writeFileSync(join(dir, 'b64'), `${key.toString('base64')}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'raw'), key, { mode: 0o600 });
    expect(Buffer.from(await loadMasterKey(prod({ masterKeyFile: join(dir, 'b64') }), silentLogger()))).toEqual(key);
    expect(Buffer.from(await loadMasterKey(prod({ masterKeyFile: join(dir, 'raw') }), silentLogger()))).toEqual(key);
  });

  it('refuses in production a key file readable by group or others, and warns in development', async () => {
    writeFileSync(join(dir, 'open'), randomBytes(32), { mode: 0o640 });
    const err = await loadMasterKey(prod({ masterKeyFile: join(dir, 'open') }), silentLogger()).catch((e: unknown) => e);
    expect(AppError.is(err, ErrorCode.Config)).toBe(true);
    expect((err as Error).message).toMatch(/readable by group or others \(mode 640\); chmod 600 it/);
    const { logger, lines } = capture();
    await loadMasterKey({ ...prod({ masterKeyFile: join(dir, 'open') }), mode: 'development' }, logger);
    expect(lines.join('')).toMatch(/readable by group or others/);
  });

  it('requires a key in production mode and creates no file', async () => {
    const err = await loadMasterKey(prod(), silentLogger()).catch((e: unknown) => e);
    expect(AppError.is(err, ErrorCode.Config)).toBe(true);
    expect(existsSync(join(dir, 'data', 'master.key'))).toBe(false);
  });

  it('refuses both an env value and a file as ambiguous', async () => {
    const err = await loadMasterKey(prod({ masterKey: randomBytes(32).toString('base64'), masterKeyFile: '/x' }), silentLogger()).catch((e: unknown) => e);
    expect(AppError.is(err, ErrorCode.Config)).toBe(true);
  });

  it('generates <dataDir>/master.key with mode 0600 in development, loudly, and reuses it', async () => {
    const { logger, lines } = capture();
    const first = await loadMasterKey(dev(), logger);
    const path = join(dir, 'data', 'master.key');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(first).toHaveLength(32);
    expect(lines.join('')).toMatch(/DEVELOPMENT MASTER KEY GENERATED/);
    expect(lines.every((l) => !l.includes(readFileSync(path, 'utf8').trim()))).toBe(true);
    const again = capture();
    expect(Buffer.from(await loadMasterKey(dev(), again.logger))).toEqual(Buffer.from(first));
    expect(again.lines.join('')).toMatch(/USING DEVELOPMENT MASTER KEY/);
  });
});

describe('deriveArchiveSubkeys', () => {
  it('gives three distinct keys that depend on the master key', () => {
    const a = deriveArchiveSubkeys(new Uint8Array(randomBytes(32)));
    const b = deriveArchiveSubkeys(new Uint8Array(randomBytes(32)));
    const hex = (u: Uint8Array) => Buffer.from(u).toString('hex');
    expect(new Set([a.keyring, a.names, a.wrap, b.keyring, b.names, b.wrap].map(hex)).size).toBe(6);
    expect(() => deriveArchiveSubkeys(new Uint8Array(16))).toThrow(RangeError);
  });
});
