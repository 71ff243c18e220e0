// The README's first Quick start line, `npm run demo`, runs here as a child process exactly as a
// newcomer would run it: it must exit 0, walk through every step, and pass its plaintext audit.
import { describe, expect, it } from 'vitest';
import { runNode } from './helpers.js';

describe('npm run demo', () => {
  it('walks through the whole mission and finds no plaintext outside the agents', async () => {
    const { code, stdout, stderr } = await runNode(['--import', 'tsx', 'scripts/demo.ts']);
    expect(code, `${stdout}\n${stderr}`).toBe(0);
    for (let n = 1; n <= 8; n++) expect(stdout).toContain(`[${n}] `);
    expect(stdout).toMatch(/9 readings in all, each once/);
    expect(stdout).toMatch(/9 history items over 3 pages/);
    expect(stdout).toMatch(/1 transit copy expired/);
    expect(stdout).toContain('no server-side part holds the plaintext');
    expect(stdout).not.toContain('PLAINTEXT FOUND');
    expect(stdout.trimEnd().endsWith('Demo complete.')).toBe(true);
  }, 180_000);
});
