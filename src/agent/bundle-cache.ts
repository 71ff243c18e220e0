// The sender's cache of verified recipient bundles (design.md "Sealing a message", step 4): one
// fetch (one claim of one-time prekeys) serves concurrent sends to a recipient, and its bundles are
// reused for a while; a claimed one-time prekey goes to the first message only, later ones are
// sealed to the signed prekey. When claims are rate-limited, the cached bundles stay in use.
import { AppError, ErrorCode } from '../errors/index.js';
import type { VerifiedBundle } from '../keys/index.js';
import type { DirectoryClient, FetchedBundle } from './directory-client.js';

export interface BundleCacheOptions {
  directory: Pick<DirectoryClient, 'fetch'>;
  /** How long fetched bundles are reused (their signed prekeys) before claiming again. */
  ttlMs: number;
  now: () => number;
}

export class BundleCache {
  private readonly cache = new Map<string, { bundles: FetchedBundle[]; at: number }>();
  private readonly fetching = new Map<string, Promise<FetchedBundle[]>>();

  constructor(private readonly o: BundleCacheOptions) {}

  /** The recipient's bundles: cached, or fetched once for every concurrent caller. */
  get(to: string): Promise<FetchedBundle[]> {
    const cached = this.cache.get(to);
    if (cached !== undefined && this.o.now() - cached.at < this.o.ttlMs) return Promise.resolve(cached.bundles);
    let pending = this.fetching.get(to);
    if (pending === undefined) {
      pending = this.fetch(to, cached).finally(() => this.fetching.delete(to));
      this.fetching.set(to, pending);
    }
    return pending;
  }

  private async fetch(to: string, cached: { bundles: FetchedBundle[] } | undefined): Promise<FetchedBundle[]> {
    try {
      const bundles = await this.o.directory.fetch(to);
      this.cache.set(to, { bundles, at: this.o.now() });
      return bundles;
    } catch (err) {
      // Claims are rate-limited: keep sealing to the signed prekeys we already verified.
      if (AppError.is(err, ErrorCode.Policy) && cached !== undefined) return cached.bundles;
      throw err;
    }
  }

  /**
   * The bundles to seal one message to (`fetched`: what `get` gave). A claimed one-time prekey is
   * good for one message only: the first message sealed after the fetch takes it; later ones use
   * the signed prekey.
   */
  forOneMessage(to: string, fetched: readonly FetchedBundle[]): VerifiedBundle[] {
    const entry = this.cache.get(to);
    const current = entry?.bundles ?? fetched;
    if (entry !== undefined) entry.bundles = entry.bundles.map((f) => ({ ...f, bundle: { ...f.bundle, oneTimePrekeys: [] } }));
    return current.map((f) => f.bundle);
  }
}
