#!/usr/bin/env node
// Entry of the `sealpost` command: the built CLI when present, else the TypeScript sources
// through tsx (a clone used for development has no build).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const built = fileURLToPath(new URL('../dist/src/cli/index.js', import.meta.url));
if (existsSync(built)) {
  await import(built);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/index.ts');
}
