// `sealpost send` and `sealpost listen`: an agent on the command line. send resolves on the
// vault's receipt (the ciphertext is committed); listen prints each verified message as a JSON
// line, and acknowledges it only after it was written.
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { createAgent, FILE_MANIFEST_TYPE, type ReceivedMessage } from '../agent/index.js';
import { AppError, ErrorCode } from '../errors/index.js';
import { addAgentOptions, agentOptions, type AgentFlags } from './agent-options.js';
import { INLINE_FILE_LIMIT, saveReceivedFile, sendFileCommand } from './files.js';
import type { Output } from './output.js';
import { guessContentType, printableText } from './text.js';

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** What a file message announces, or why its manifest is refused. */
function fileInfo(m: ReceivedMessage): Record<string, unknown> {
  try {
    return { file: m.file() };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

export function agentCommands(program: Command, out: Output): void {
  addAgentOptions(program.command('send').description('seal a message to a contact; returns once the vault has stored it'))
    .argument('<to>', "the recipient's bare JID")
    .argument('[text]', 'the message text (else --file, else standard input)')
    .option('--file <path>', 'send the bytes of this file')
    .option('--content-type <type>', 'MIME type of the data')
    .option('--json', 'print JSON')
    .action(async (to: string, text: string | undefined, flags: AgentFlags & { file?: string; contentType?: string; json?: boolean }) => {
      if (text === undefined && flags.file !== undefined && statSync(flags.file).size > INLINE_FILE_LIMIT) {
        const agent = await createAgent(agentOptions(flags));
        try {
          return await sendFileCommand(agent, to, flags.file, flags.contentType, flags.json, out);
        } finally {
          await agent.stop();
        }
      }
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
    .option('--save <dir>', 'save received files into this folder (the JSON line comes once the file is checked)')
    .action(async (flags: AgentFlags & { count?: number; timeout?: number; save?: string }) => {
      if (flags.save !== undefined) mkdirSync(flags.save, { recursive: true, mode: 0o700 });
      const agent = await createAgent(agentOptions(flags));
      let seen = 0;
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        const arm = (): void => {
          if (flags.timeout === undefined) return;
          clearTimeout(timer);
          timer = setTimeout(resolve, flags.timeout * 1000);
        };
        agent.onMessage(async (m) => {
          const isFile = m.contentType === FILE_MANIFEST_TYPE;
          // A file message's body is its manifest (key, URL): never printed; without --save only what it is.
          const saved = !isFile ? {} : flags.save === undefined ? { ...fileInfo(m), saved: false } : await saveReceivedFile(m, flags.save);
          const text = isFile ? undefined : printableText(m.contentType, m.data);
          out.result(
            JSON.stringify({
              id: m.messageId,
              from: m.from,
              device: m.device,
              fingerprint: m.fingerprint,
              trust: m.trust,
              sentAt: new Date(m.sentAt).toISOString(),
              contentType: m.contentType,
              ...(isFile ? {} : text === undefined ? { base64: Buffer.from(m.data).toString('base64') } : { text }),
              ...saved,
            }),
          );
          seen++;
          arm();
          if (flags.count !== undefined && seen >= flags.count) setImmediate(resolve);
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
