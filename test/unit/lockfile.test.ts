// Static checks of the install path a new user takes (issue 18, part 4): the committed lock is
// complete (npm ci refuses a lock that leaves out a dependency some locked package names, as a lock
// written beside a node_modules did for other platforms' optional binaries) and the Quick start,
// CI and the Dockerfile all install it with `npm ci`.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const read = (file: string): string => readFileSync(join(root, file), 'utf8');

interface LockEntry {
  version?: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}
interface Lock {
  lockfileVersion: number;
  packages: Record<string, LockEntry>;
}

/** Node's lookup: <dir>/node_modules/<name>, then each enclosing node_modules up to the root. */
function resolves(packages: Record<string, LockEntry>, from: string, name: string): boolean {
  let dir = from;
  for (;;) {
    if (`${dir === '' ? '' : `${dir}/`}node_modules/${name}` in packages) return true;
    if (dir === '') return false;
    const cut = dir.lastIndexOf('/node_modules/');
    dir = cut === -1 ? '' : dir.slice(0, cut);
  }
}

/** Every dependency named by a locked package (optional ones too) that the lock does not hold. */
function missingFromLock(lock: Lock): string[] {
  const missing: string[] = [];
  for (const [path, entry] of Object.entries(lock.packages)) {
    const peers = Object.keys(entry.peerDependencies ?? {}).filter((n) => !entry.peerDependenciesMeta?.[n]?.optional);
    const names = [
      ...Object.keys(entry.dependencies ?? {}),
      ...Object.keys(entry.optionalDependencies ?? {}),
      ...(path === '' ? Object.keys(entry.devDependencies ?? {}) : []),
      ...peers,
    ];
    for (const name of new Set(names)) if (!resolves(lock.packages, path, name)) missing.push(`${path || '(root)'} -> ${name}`);
  }
  return missing;
}

describe('package-lock.json', () => {
  const lock = JSON.parse(read('package-lock.json')) as Lock;
  const pkg = JSON.parse(read('package.json')) as LockEntry;

  it('locks exactly the dependencies package.json declares', () => {
    const top = lock.packages[''];
    expect(lock.lockfileVersion).toBeGreaterThanOrEqual(3);
    expect(top?.dependencies).toEqual(pkg.dependencies);
    expect(top?.devDependencies).toEqual(pkg.devDependencies);
  });

  it('holds every package a locked package depends on, every platform binary included', () => {
    expect(missingFromLock(lock)).toEqual([]);
    // the optional per-platform binaries that a lock written beside node_modules left out
    for (const name of ['@rollup/rollup-linux-x64-gnu', '@rollup/rollup-linux-arm64-gnu', '@esbuild/linux-x64', '@esbuild/darwin-arm64'])
      expect(Object.keys(lock.packages).some((p) => p.endsWith(`node_modules/${name}`)), name).toBe(true);
  });

  it('finds a dependency left out of a lock (the check can fail)', () => {
    const packages = { ...lock.packages };
    const victim = Object.keys(packages).find((p) => p.endsWith('node_modules/@rollup/rollup-linux-x64-gnu'));
    expect(victim).toBeDefined();
    delete packages[victim ?? ''];
    expect(missingFromLock({ ...lock, packages })).toEqual([expect.stringMatching(/-> @rollup\/rollup-linux-x64-gnu$/)]);
  });
});

describe('installing', () => {
  it('the Quick start installs with npm ci', () => {
    const quick = /## Quick start\n+```sh\n([\s\S]*?)```/.exec(read('README.md'))?.[1] ?? '';
    expect(quick).toMatch(/^npm ci\b/m);
    expect(quick).not.toMatch(/npm install/);
  });

  it('CI installs with npm ci and has no fallback to npm install', () => {
    const ci = read('.ci/run');
    expect(ci).toMatch(/^npm ci\b/m);
    expect(ci).not.toMatch(/^\s*npm install/m);
  });

  it('the image installs the lock with npm ci (runtime dependencies only)', () => {
    const dockerfile = read('Dockerfile');
    expect(dockerfile).toMatch(/^COPY package\.json package-lock\.json \.\/$/m);
    expect(dockerfile).toMatch(/^RUN npm ci --omit=dev\b/m);
    expect(dockerfile).not.toMatch(/npm install/);
  });
});
