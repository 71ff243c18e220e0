// The folder-boundary rule of eslint.config.js (style.md: a folder is imported from outside only
// through its index.ts), run through ESLint's Node API with the project's own config: a deep import
// in src is refused with the rule's message, an index import is not, tests are left free.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const fixture = (name: string): string => readFileSync(join(root, 'test/unit/lint/fixtures', name), 'utf8');

// The project's config (eslint.config.js at the root), with type-aware rules off: the fixture is
// linted under a path in src where no file exists, so there is no program to type-check it with.
const eslint = new ESLint({ cwd: root, overrideConfig: tseslint.configs.disableTypeChecked });

async function refusals(text: string, path: string): Promise<{ line: number; message: string }[]> {
  const [result] = await eslint.lintText(text, { filePath: join(root, path) });
  if (result === undefined) throw new Error('ESLint returned no result');
  const fatal = result.messages.filter((m) => m.fatal === true);
  expect(fatal).toEqual([]);
  return result.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => ({ line: m.line, message: m.message }));
}

describe('folder imports go through index.ts (eslint.config.js)', () => {
  it('refuses every deep import into another folder from a folder of src', async () => {
    const found = await refusals(fixture('deep-imports.txt'), 'src/agent/lint-fixture.ts');
    expect(found.map((f) => f.line)).toEqual([3, 4, 5, 6, 7]);
    for (const f of found) expect(f.message).toContain('only through its index.ts');
  }, 60_000);

  it('refuses a deep import from the root of src (main.ts)', async () => {
    const found = await refusals("import { NS } from './protocol/namespaces.js';\nexport const x = NS;\n", 'src/main.ts');
    expect(found).toHaveLength(1);
    expect(found[0]?.message).toContain('only through its index.ts');
  }, 60_000);

  it('takes index imports, a file of its own folder and a root module', async () => {
    expect(await refusals(fixture('index-imports.txt'), 'src/agent/lint-fixture.ts')).toEqual([]);
    expect(await refusals("import { NS } from './protocol/index.js';\nexport const x = NS;\n", 'src/main.ts')).toEqual([]);
  }, 60_000);

  it('leaves tests free to reach a module\'s internals', async () => {
    const text = "import { NS } from '../../../src/protocol/namespaces.js';\nexport const x = NS;\n";
    expect(await refusals(text, 'test/unit/protocol/lint-fixture.test.ts')).toEqual([]);
  }, 60_000);
});
