// The vault's file upload service (issue 17; XEP-0363 HTTP File Upload, XEP-0448 in spirit):
// slot IQs on the vault connection, an HTTP listener for the ciphertext, a periodic sweep tying each
// blob's lifetime to its message. Blobs are stored as the SDK sealed them (see src/archive/blobs.ts).
import { NS, uploadDiscoForm } from '../protocol/index.js';
import type { ArchiveStore } from '../archive/index.js';
import type { DiscoExtension } from '../ingest/index.js';
import type { Logger } from '../log/index.js';
import { listenHttp } from '../net/index.js';
import type { XmppConnection } from '../xmpp/index.js';
import { createUploadServer } from './http.js';
import { registerSlots, type SlotLimits } from './slots.js';
import { sweepBlobs } from './sweep.js';

export { CHECKSUM_HEADER, RECEIVED_HEADER, fileRoute, type FileRoute } from './http.js';
export { registerUploadFront, ownerListeners, type UploadFrontOptions } from './front.js';

export interface UploadOptions {
  conn: XmppConnection;
  archive: ArchiveStore;
  limits: SlotLimits;
  /** Listener address: loopback unless a TLS proxy on another host forwards to it. */
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  /** The URL agents use (the TLS proxy's); default http://host:port. */
  publicUrl?: string | undefined;
  /** The shard of a user (it goes into each slot's URL for the ingest's front). */
  shardOf: (jid: string) => number;
  /**
   * A worker node: the base URL of the slot request being answered (the ingest's front, sent
   * with the routed request); the node's own listener is then reached only through that front.
   */
  slotBase?: () => string | undefined;
  transitTtlSeconds: number;
  sweepSeconds: number;
  logger: Logger;
  now?: () => number;
}

export interface UploadService {
  /** The listener's own URL. */
  readonly url: string;
  /** The base URL agents are given (the TLS proxy's, else the listener's). */
  readonly publicUrl: string;
  /** One lifetime pass now (tests, operators); returns how many blobs went (the ingest's front: none, it holds none). */
  sweep(): number;
  close(): Promise<void>;
}

/** The disco feature and form (max file size) the vault advertises for the service. */
export function uploadDisco(maxFileBytes: number): DiscoExtension {
  return { features: [NS.upload], form: () => uploadDiscoForm(maxFileBytes) };
}

export async function registerUpload(o: UploadOptions): Promise<UploadService> {
  const now = o.now ?? Date.now;
  const server = createUploadServer({ archive: o.archive, logger: o.logger });
  const url = await listenHttp(server, o.port, o.host);
  const base = (o.publicUrl ?? url).replace(/\/+$/, '');
  const baseUrl = (): string => o.slotBase?.()?.replace(/\/+$/, '') ?? base;
  registerSlots({ conn: o.conn, archive: o.archive, limits: o.limits, baseUrl, shardOf: o.shardOf, logger: o.logger, now });
  const sweep = (): number => sweepBlobs({ archive: o.archive, transitTtlSeconds: o.transitTtlSeconds, logger: o.logger, now });
  const timer = setInterval(() => {
    try {
      sweep();
    } catch (err) {
      o.logger.warn({ error: (err as Error).message }, 'blob sweep failed');
    }
  }, o.sweepSeconds * 1000).unref();
  o.logger.child({ module: 'upload' }).info({ url, publicUrl: base }, 'file upload service listening');
  return {
    url,
    publicUrl: base,
    sweep,
    async close() {
      clearInterval(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
