// The `sealpost` command (commander): the service's roles, agent commands and operator commands.
// Every error ends with a one-line message on stderr and a non-zero exit code: 2 for usage
// errors, 1 for everything else unless a command says otherwise (`sealpost shard`: 3-6).
import { Command, CommanderError } from 'commander';
import { AppError } from '../errors/index.js';
import { runFromEnv } from '../main.js';
import { agentCommands } from './agent-commands.js';
import { historyCommand } from './history-command.js';
import { keysCommands } from './keys-commands.js';
import { operatorCommands } from './operator-commands.js';
import { stdio, type Output } from './output.js';
import { ExitError, shardCommands } from './shard-commands.js';

export function buildProgram(out: Output = stdio): Command {
  const program = new Command('sealpost')
    .description('Encrypted store-and-forward for offline XMPP agents')
    .version('0.1.0')
    .showHelpAfterError()
    .exitOverride();
  program.configureOutput({ writeOut: (s) => out.result(s.trimEnd()), writeErr: (s) => out.info(s.trimEnd()) });
  program
    .command('serve')
    .description('run every role in one process (the local default); configured by SEALPOST_* variables')
    .action(() => runFromEnv());
  program.command('ingest').description('run only the XMPP front door (submissions, key IQs, presence)').action(() => runFromEnv(['ingest']));
  program.command('worker').description('run only the queue workers (store, delivery)').action(() => runFromEnv(['worker']));
  keysCommands(program, out);
  agentCommands(program, out);
  historyCommand(program, out);
  operatorCommands(program, out);
  shardCommands(program, out);
  const harden = (cmd: Command): void => {
    for (const sub of cmd.commands) {
      sub.exitOverride().showHelpAfterError();
      harden(sub);
    }
  };
  harden(program);
  return program;
}

/** Runs the CLI; resolves with the exit code instead of exiting (tests call it). */
export async function runCli(argv: readonly string[], out: Output = stdio): Promise<number> {
  const program = buildProgram(out);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      return err.exitCode === 0 ? 0 : 2;
    }
    const message = err instanceof Error ? err.message : String(err);
    out.info(`sealpost: ${AppError.is(err) ? `${err.code}: ` : ''}${message}`);
    return err instanceof ExitError ? err.exitCode : 1;
  }
}

const isMain = process.argv[1] !== undefined && /(?:^|[/\\])(?:sealpost(?:\.js)?|cli[/\\]index\.[jt]s)$/.test(process.argv[1]);
if (isMain) {
  runCli(process.argv.slice(2)).then(
    (code) => {
      // serve/ingest/worker keep running; the others end here.
      if (code !== 0 || !['serve', 'ingest', 'worker'].includes(process.argv[2] ?? '')) process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`sealpost: ${String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
