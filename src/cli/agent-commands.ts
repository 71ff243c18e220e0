// `sealpost send` and `sealpost listen`: an agent on the command line. send resolves on the
// vault's receipt (the ciphertext is committed); listen prints each verified message as a JSON
// line, and acknowledges it only after it was written.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { createAgent } from '../agent/index.js';
import { AppError, ErrorCode } from '../errors/index.js';
import { addAgentOptions, agentOptions, type AgentFlags } from './agent-options.js';
import type { Output } from './output.js';
import { guessContentType, printableText } from './text.js';

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export function agentCommands(program: Command, out: Output): void {
  addAgentOptions(program.command('send').description('seal a message to a contact; returns once the vault has stored it'))
    .argument('<to>', "the recipient's bare JID")
    .argument('[text]', 'the message text (else --file, else standard input)')
    .option('--file <path>', 'send the bytes of this file')
    .option('--content-type <type>', 'MIME type of the data')
    .option('--json', 'print JSON')
    .action(async (to: string, text: string | undefined, flags: AgentFlags & { file?: string; contentType?: string; json?: boolean }) => {
      const data: Uint8Array | string =
        text ?? (flags.file !== undefined ? readFileSync(flags.file) : process.stdin.isTTY ? '' : await readStdin());
      if (data.length === 0) throw new AppError(ErrorCode.BadInput, 'nothing to send: give text, --file or standard input');
      const agent = await createAgent(agentOptions(flags));
      try {
        const piped = text === undefined && flags.file === undefined && typeof data !== 'string';
        const contentType = flags.contentType ?? (piped ? guessContentType(data) : undefined);
        const { messageId } = await agent.send(to, data, contentType === undefined ? {} : { contentType });
        out.result(flags.json ? JSON.stringify({ messageId, to }) : messageId);
      } finally {
        await agent.stop();
      }
    });

  addAgentOptions(program.command('listen').description('receive messages; prints one JSON line per verified message'))
    .option('--count <n>', 'exit after this many messages', (v) => Number.parseInt(v, 10))
    .option('--timeout <seconds>', 'exit after this many seconds without a message', (v) => Number.parseInt(v, 10))
    .action(async (flags: AgentFlags & { count?: number; timeout?: number }) => {
      const agent = await createAgent(agentOptions(flags));
      let seen = 0;
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        const arm = (): void => {
          if (flags.timeout === undefined) return;
          clearTimeout(timer);
          timer = setTimeout(resolve, flags.timeout * 1000);
        };
        agent.onMessage((m) => {
          const text = printableText(m.contentType, m.data);
          out.result(
            JSON.stringify({
              id: m.messageId,
              from: m.from,
              device: m.device,
              fingerprint: m.fingerprint,
              trust: m.trust,
              sentAt: new Date(m.sentAt).toISOString(),
              contentType: m.contentType,
              ...(text === undefined ? { base64: Buffer.from(m.data).toString('base64') } : { text }),
            }),
          );
          seen++;
          arm();
          if (flags.count !== undefined && seen >= flags.count) setImmediate(resolve);
          return Promise.resolve();
        });
        arm();
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      clearTimeout(timer);
      await agent.stop();
      out.info(`received ${seen} message(s)`);
    });
}
