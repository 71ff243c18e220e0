// One cleanup stack for the composition root (issue 13): every part that start-up opens is pushed
// as it opens; on a failure at any later step, and at stop(), the root closes the stack: exactly
// what was opened, newest first, each close awaited before the next.
import type { Logger } from '../log/index.js';

/** Anything that can be closed; sync or async. */
export interface Closable {
  close(): void | Promise<void>;
}

export interface CleanupStack {
  /** Pushes `part` (returned, for wiring in one line) under `name` (for logs). */
  push<T extends Closable>(name: string, part: T): T;
  /** Awaits `open` and pushes its result; `close` when the part closes by another name (stop, quit). */
  open<T extends Closable>(name: string, open: () => T | Promise<T>): Promise<T>;
  open<T>(name: string, open: () => T | Promise<T>, close: (part: T) => void | Promise<void>): Promise<T>;
  /** Closes everything pushed, newest first; idempotent. Rejects with the first close error. */
  close(): Promise<void>;
  /** Names of the parts still open, oldest first. */
  readonly names: readonly string[];
}

export function cleanupStack(logger: Logger): CleanupStack {
  const log = logger.child({ module: 'lifecycle' });
  const parts: { name: string; part: Closable }[] = [];
  let closing: Promise<void> | undefined;

  const push = <T extends Closable>(name: string, part: T): T => {
    if (closing !== undefined) throw new Error(`cleanup stack: ${name} opened after close`);
    parts.push({ name, part });
    return part;
  };

  return {
    push,
    async open<T>(name: string, open: () => T | Promise<T>, close?: (part: T) => void | Promise<void>): Promise<T> {
      let part: T;
      try {
        part = await open();
      } catch (err) {
        log.warn({ step: name, error: (err as Error).message }, 'start step failed');
        throw err;
      }
      push(name, close === undefined ? (part as Closable) : { close: () => close(part) });
      return part;
    },
    close: () =>
      (closing ??= (async () => {
        let first: Error | undefined;
        for (let top = parts.pop(); top !== undefined; top = parts.pop()) {
          try {
            await top.part.close();
            log.debug({ part: top.name }, 'closed');
          } catch (err) {
            // Keep closing the rest: a failed close must not leave older parts open.
            log.warn({ part: top.name, error: (err as Error).message }, 'close failed');
            first ??= err instanceof Error ? err : new Error(String(err));
          }
        }
        if (first !== undefined) throw first;
      })()),
    get names() {
      return parts.map((p) => p.name);
    },
  };
}
