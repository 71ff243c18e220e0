// The README's first Quick start line, `npm run demo`, runs here as a child process exactly as a
// newcomer would run it: it must exit 0, walk through every step, and pass its plaintext audit.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';

function runDemo(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/demo.ts'], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('npm run demo', () => {
  it('walks through the whole mission and finds no plaintext outside the agents', async () => {
    const { code, stdout, stderr } = await runDemo();
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
