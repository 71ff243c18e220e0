// `sealpost history`: this account's encrypted history, opened with its archive key, as a table
// or JSON lines. On a terminal, long fetches show a running count on stderr.
import type { Command } from 'commander';
import { createAgent, type HistoryEntry } from '../agent/index.js';
import { AppError, ErrorCode } from '../errors/index.js';
import { addAgentOptions, agentOptions, type AgentFlags } from './agent-options.js';
import { table, type Output } from './output.js';

function parseTime(label: string, value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const t = new Date(value);
  if (Number.isNaN(t.getTime())) throw new AppError(ErrorCode.BadInput, `${label}: not a date/time: ${value}`);
  return t;
}

function progress(enabled: boolean): { tick(n: number): void; done(): void } {
  if (!enabled) return { tick: () => undefined, done: () => undefined };
  const frames = ['|', '/', '-', '\\'];
  return {
    tick: (n) => void process.stderr.write(`\r${frames[n % frames.length] ?? ''} fetched ${n} item(s)`),
    done: () => void process.stderr.write('\r\x1b[K'),
  };
}

export function historyCommand(program: Command, out: Output): void {
  addAgentOptions(program.command('history').description('page through this account\'s encrypted history'))
    .option('--with <jid>', 'only items exchanged with this JID')
    .option('--start <time>', 'stored at or after (ISO 8601)')
    .option('--end <time>', 'stored at or before (ISO 8601)')
    .option('--max <n>', 'at most this many items', (v) => Number.parseInt(v, 10))
    .option('--reverse', 'newest first')
    .option('--json', 'one JSON object per line')
    .action(async (flags: AgentFlags & { with?: string; start?: string; end?: string; max?: number; reverse?: boolean; json?: boolean }) => {
      if (flags.max !== undefined && (!Number.isInteger(flags.max) || flags.max < 1))
        throw new AppError(ErrorCode.BadInput, '--max must be a positive integer');
      const start = parseTime('--start', flags.start);
      const end = parseTime('--end', flags.end);
      const agent = await createAgent(agentOptions(flags));
      const bar = progress(process.stderr.isTTY && !flags.json);
      const rows: unknown[][] = [];
      let n = 0;
      let failures = 0;
      try {
        const entries: AsyncIterable<HistoryEntry> = agent.history({
          ...(flags.with === undefined ? {} : { with: flags.with }),
          ...(start === undefined ? {} : { start }),
          ...(end === undefined ? {} : { end }),
          ...(flags.max === undefined ? {} : { max: flags.max }),
          ...(flags.reverse ? { reverse: true } : {}),
        });
        for await (const e of entries) {
          n++;
          bar.tick(n);
          if (!e.ok) failures++;
          const text = e.ok && (e.contentType.startsWith('text/') || e.contentType === 'application/json') ? e.text() : undefined;
          if (flags.json)
            out.result(
              JSON.stringify(
                e.ok
                  ? { id: e.archiveId, storedAt: new Date(e.storedAt).toISOString(), direction: e.direction, with: e.with, messageId: e.messageId, from: e.from, trust: e.trust, contentType: e.contentType, ...(text === undefined ? { base64: Buffer.from(e.data).toString('base64') } : { text }) }
                  : { id: e.archiveId, storedAt: new Date(e.storedAt).toISOString(), error: e.error.message },
              ),
            );
          else
            rows.push(
              e.ok
                ? [new Date(e.storedAt).toISOString(), e.direction, e.with, text === undefined ? `${e.data.length} bytes ${e.contentType}` : text.slice(0, 60)]
                : [new Date(e.storedAt).toISOString(), '?', '?', `cannot open: ${e.error.message}`],
            );
        }
      } finally {
        bar.done();
        await agent.stop();
      }
      if (!flags.json) table(out, ['stored', 'dir', 'with', 'content'], rows);
      out.info(`${n} item(s)${failures > 0 ? `, ${failures} could not be opened` : ''}`);
    });
}
