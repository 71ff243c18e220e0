// Shared fixtures for archive tests: a temp dir per test, a store with an injected clock, items
// made of random opaque bytes (the archive never looks inside them).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createArchiveStore, type ArchiveStore, type ArchiveStoreOptions, type IncomingItem, type OutgoingItem } from '../../../src/archive/index.js';

export interface Fixture {
  dir: string;
  masterKey: Uint8Array;
  clock: { t: number };
  stores: ArchiveStore[];
  open(opts?: Partial<ArchiveStoreOptions>): Promise<ArchiveStore>;
  cleanup(): void;
}

export const T0 = Date.UTC(2025, 0, 1);

export function fixture(): Fixture {
  const dir = mkdtempSync(join(tmpdir(), 'sealpost-archive-'));
  const f: Fixture = {
    dir,
    masterKey: new Uint8Array(randomBytes(32)),
    clock: { t: T0 },
    stores: [],
    async open(opts = {}) {
      const s = await createArchiveStore({
        dir: join(dir, 'archive'),
        masterKey: f.masterKey,
        cipher: 'chacha20',
        now: () => f.clock.t,
        ...opts,
      });
      f.stores.push(s);
      return s;
    },
    cleanup() {
      for (const s of f.stores) s.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return f;
}

export function bytes(n: number, fill?: number): Uint8Array {
  return fill === undefined ? new Uint8Array(randomBytes(n)) : new Uint8Array(n).fill(fill);
}

export function incoming(
  sender: string,
  messageId: string,
  devices: readonly number[] = [101],
  opts: { ak?: boolean; payloadBytes?: number; blockBytes?: number; receivedAt?: number } = {},
): IncomingItem {
  const blockBytes = opts.blockBytes ?? 200;
  return {
    sender,
    senderDevice: 7,
    messageId,
    suite: 'sp1',
    payload: bytes(opts.payloadBytes ?? 1024),
    deviceBlocks: devices.map((d) => ({ deviceId: d, prekeyId: 1000 + d, block: bytes(blockBytes) })),
    archiveBlock: opts.ak === false ? undefined : { akId: 3, block: bytes(blockBytes) },
    receivedAt: opts.receivedAt,
  };
}

export function outgoing(recipient: string, messageId: string, receivedAt?: number): OutgoingItem {
  return {
    recipient,
    senderDevice: 9,
    messageId,
    suite: 'sp1',
    payload: bytes(512),
    archiveBlock: { akId: 4, block: bytes(200) },
    receivedAt,
  };
}

/** Open file descriptors of this process whose target matches `pattern`. */
export function openFds(pattern: RegExp): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (pattern.test(readlinkSync(`/proc/self/fd/${fd}`))) n++;
    } catch {
      // the fd closed between listing and reading (e.g. the listing's own)
    }
  }
  return n;
}

/** Calls fn and returns what it threw (undefined when it did not throw). */
export function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}
