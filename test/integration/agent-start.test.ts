// An agent that cannot finish starting (its vault never answers) rejects with a clear error and
// leaves nothing open behind: no XMPP socket, no timer (the key file is closed and wiped too).
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createAgent, type AgentOptions } from '../../src/agent/index.js';
import { AppError, ErrorCode } from '../../src/errors/index.js';
import { createAccount, services } from './helpers.js';

/** Open sockets and timers of this process, by kind. */
function handles(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) if (r === 'TCPSocketWrap' || r === 'Timeout') out[r] = (out[r] ?? 0) + 1;
  return out;
}

describe('agent start', () => {
  it('rejects with a clear error when the vault never answers, and leaves no socket or timer open', async () => {
    const { xmpp } = services();
    const account = await createAccount('lonely');
    const dir = mkdtempSync(join(tmpdir(), 'sealpost-agent-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const options: AgentOptions = {
      xmpp: { service: xmpp.service, domain: xmpp.domain, username: account.username, password: account.password },
      vault: `no-vault-${randomUUID().slice(0, 8)}@${xmpp.domain}`,
      dir,
      secret: { key: new Uint8Array(randomBytes(32)) },
    };
    await new Promise((resolve) => setTimeout(resolve, 100));
    const before = handles();
    const err: unknown = await createAgent(options).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(AppError.is(err, ErrorCode.Unavailable)).toBe(true);
    expect((err as AppError).message).toMatch(/did not answer/);
    await new Promise((resolve) => setTimeout(resolve, 500));
    // Nothing left beyond what was open before the start (a timer of the harness's that was open
    // then may have ended since: a CI run counted one fewer, never one more).
    const after = handles();
    for (const kind of ['TCPSocketWrap', 'Timeout']) expect(after[kind] ?? 0, kind).toBeLessThanOrEqual(before[kind] ?? 0);
  }, 60_000);
});
