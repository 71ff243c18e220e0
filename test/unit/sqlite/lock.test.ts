// The data dir lock (src/sqlite lockShared/lockExclusive, used by src/stores/live.ts): shared
// holders coexist, an exclusive one waits for none and excludes them, and a holder killed with
// SIGKILL leaves no stale lock (the OS drops SQLite's file locks with the process).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lockExclusive, lockShared } from '../../../src/sqlite/index.js';

let dir: string;
let path: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sealpost-lock-'));
  path = join(dir, 'service.lock');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('file lock', () => {
  it('lets shared holders coexist and refuses an exclusive one until all have released', () => {
    const a = lockShared(path);
    const b = lockShared(path);
    expect(a).toBeDefined();
    expect(b).toBeDefined();
    expect(lockExclusive(path)).toBeUndefined();
    a?.release();
    expect(lockExclusive(path)).toBeUndefined();
    b?.release();
    b?.release(); // idempotent
    const x = lockExclusive(path);
    expect(x).toBeDefined();
    expect(lockShared(path, 50)).toBeUndefined();
    expect(lockExclusive(path)).toBeUndefined();
    x?.release();
    const again = lockShared(path, 50);
    expect(again).toBeDefined();
    again?.release();
  });

  it('leaves no stale lock when its holder is killed with SIGKILL', async () => {
    const code = `import('./src/sqlite/index.ts').then((m) => { const l = m.lockShared(${JSON.stringify(path)}); process.stdout.write(l ? 'held\\n' : 'busy\\n'); setInterval(() => {}, 1000); })`;
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', code], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] });
    const held = await new Promise<string>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim())));
    expect(held).toBe('held');
    expect(lockExclusive(path), 'exclusive while another process holds it').toBeUndefined();
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    const x = lockExclusive(path);
    expect(x).toBeDefined();
    x?.release();
  });
});
