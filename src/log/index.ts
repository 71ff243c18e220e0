// pino logging, injected everywhere as `Logger`; child loggers per module/job.
// Redaction is a second line of defence: code must never pass a payload, key or stanza body.
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/** Field names whose values are always censored, at any depth we list. */
export const REDACT_PATHS: readonly string[] = [
  'password',
  'passphrase',
  'key',
  'secret',
  'payload',
  'ciphertext',
  'body',
  'stanza',
  'masterKey',
  '*.password',
  '*.passphrase',
  '*.key',
  '*.secret',
  '*.payload',
  '*.ciphertext',
  '*.body',
  '*.stanza',
  '*.masterKey',
];

export interface LogOptions {
  level?: string;
  name?: string;
  /** Where to write; defaults to stdout. Tests pass a file or memory stream. */
  destination?: DestinationStream;
}

export function createLogger(options: LogOptions = {}): Logger {
  return pino(
    {
      name: options.name ?? 'sealpost',
      level: options.level ?? 'info',
      redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
      base: { pid: process.pid },
    },
    options.destination,
  );
}

/** A logger that writes nothing, for unit tests and library callers without logging. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
