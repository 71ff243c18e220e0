// File-backed TrustStore (design.md, "Cryptographic construction", step 5: pinned keys survive
// restarts). One JSON file, mode 0600, rewritten atomically (temp file + rename) on every change;
// writes are serialised in this process. A malformed file is refused, never silently reset. It
// holds the pinned keys and the new devices refused until the user accepts them.
import { readFile } from 'node:fs/promises';
import { AppError, ErrorCode } from '../errors/index.js';
import { fromBase64, toBase64 } from './encoding.js';
import { idProblem, jidProblem, timestampProblem, wire, wireKeys, wireObject } from './fields.js';
import { atomicWriteFile } from './fsutil.js';
import { ED25519_PUBLIC_BYTES } from './sodium.js';
import { MAX_REFUSED_DEVICES, MemoryTrustStore, type RefusedDevice, type TrustRecord, type TrustStore } from './trust.js';

interface RecordJson {
  jid: string;
  device: number;
  ik: string;
  level: 'tofu' | 'verified';
  firstSeen: number;
  updatedAt: number;
  pending?: { ik: string; seenAt: number };
}

function toJson(r: TrustRecord): RecordJson {
  const out: RecordJson = { jid: r.jid, device: r.device, ik: toBase64(r.identityKey), level: r.level, firstSeen: r.firstSeen, updatedAt: r.updatedAt };
  if (r.pending !== undefined) out.pending = { ik: toBase64(r.pending.identityKey), seenAt: r.pending.seenAt };
  return out;
}

function fromJson(label: string, value: unknown): TrustRecord {
  const o = wireObject(label, value);
  wireKeys(label, o, ['jid', 'device', 'ik', 'level', 'firstSeen', 'updatedAt', 'pending']);
  if (o.level !== 'tofu' && o.level !== 'verified') throw new AppError(ErrorCode.BadInput, `${label}.level: tofu or verified`);
  const rec: TrustRecord = {
    jid: wire<string>(`${label}.jid`, o.jid, jidProblem),
    device: wire<number>(`${label}.device`, o.device, idProblem),
    identityKey: fromBase64(`${label}.ik`, o.ik, ED25519_PUBLIC_BYTES),
    level: o.level,
    firstSeen: wire<number>(`${label}.firstSeen`, o.firstSeen, timestampProblem),
    updatedAt: wire<number>(`${label}.updatedAt`, o.updatedAt, timestampProblem),
  };
  if (o.pending === undefined) return rec;
  const p = wireObject(`${label}.pending`, o.pending);
  wireKeys(`${label}.pending`, p, ['ik', 'seenAt']);
  return {
    ...rec,
    pending: {
      identityKey: fromBase64(`${label}.pending.ik`, p.ik, ED25519_PUBLIC_BYTES),
      seenAt: wire<number>(`${label}.pending.seenAt`, p.seenAt, timestampProblem),
    },
  };
}

interface RefusedJson {
  jid: string;
  device: number;
  ik: string;
  seenAt: number;
}

const refusedToJson = (r: RefusedDevice): RefusedJson => ({ jid: r.jid, device: r.device, ik: toBase64(r.identityKey), seenAt: r.seenAt });

function refusedFromJson(label: string, value: unknown): RefusedDevice {
  const o = wireObject(label, value);
  wireKeys(label, o, ['jid', 'device', 'ik', 'seenAt']);
  return {
    jid: wire<string>(`${label}.jid`, o.jid, jidProblem),
    device: wire<number>(`${label}.device`, o.device, idProblem),
    identityKey: fromBase64(`${label}.ik`, o.ik, ED25519_PUBLIC_BYTES),
    seenAt: wire<number>(`${label}.seenAt`, o.seenAt, timestampProblem),
  };
}

export class FileTrustStore extends MemoryTrustStore implements TrustStore {
  private writing: Promise<void> = Promise.resolve();

  private constructor(readonly path: string) {
    super();
  }

  /** Opens (or starts) the trust file at `path`; a corrupt file is an AppError(Corrupt). */
  static async open(path: string): Promise<FileTrustStore> {
    const store = new FileTrustStore(path);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return store;
      throw new AppError(ErrorCode.Unavailable, `cannot read trust store ${path}`, { cause: err });
    }
    try {
      const o = wireObject('trust store', JSON.parse(text));
      wireKeys('trust store', o, ['version', 'records', 'refused']);
      if (o.version !== 1 || !Array.isArray(o.records)) throw new AppError(ErrorCode.BadInput, 'trust store: expected version 1 with records');
      (o.records as unknown[]).forEach((r, i) => {
        const rec = fromJson(`records[${i}]`, r);
        store.book.records.set(`${rec.device}:${rec.jid}`, rec);
      });
      // New devices refused until accepted (issue 14): a restart keeps them refused and acceptable.
      const refused = o.refused ?? [];
      if (!Array.isArray(refused) || refused.length > MAX_REFUSED_DEVICES)
        throw new AppError(ErrorCode.BadInput, `trust store: refused is a list of at most ${MAX_REFUSED_DEVICES}`);
      (refused as unknown[]).forEach((r, i) => {
        const d = refusedFromJson(`refused[${i}]`, r);
        store.book.newDevices.set(`${d.device}:${d.jid}`, d);
      });
    } catch (cause) {
      throw new AppError(ErrorCode.Corrupt, `trust store ${path} is malformed; refusing to reset pinned keys`, { cause });
    }
    return store;
  }

  private persist(): Promise<void> {
    const records = [...this.book.records.values()].map(toJson);
    const refused = [...this.book.newDevices.values()].map(refusedToJson);
    const json = JSON.stringify({ version: 1, records, ...(refused.length === 0 ? {} : { refused }) }, null, 2);
    this.writing = this.writing.catch(() => undefined).then(() => atomicWriteFile(this.path, json));
    return this.writing;
  }

  override async pin(jid: string, device: number, ik: Uint8Array, now: number): Promise<TrustRecord> {
    const before = this.book.get(jid, device);
    const rec = await super.pin(jid, device, ik, now);
    if (rec !== before) await this.persist();
    return rec;
  }
  override async markVerified(jid: string, device: number, fp: Uint8Array, now: number): Promise<TrustRecord> {
    const rec = await super.markVerified(jid, device, fp, now);
    await this.persist();
    return rec;
  }
  override async notePending(jid: string, device: number, ik: Uint8Array, now: number): Promise<void> {
    const before = this.book.get(jid, device);
    await super.notePending(jid, device, ik, now);
    if (this.book.get(jid, device) !== before) await this.persist();
  }
  override async noteNewDevice(jid: string, device: number, ik: Uint8Array, now: number): Promise<void> {
    if (this.book.noteNewDevice(jid, device, ik, now)) await this.persist();
  }
  override async acceptDevice(jid: string, device: number, fp: Uint8Array, now: number): Promise<TrustRecord> {
    const rec = this.book.acceptDevice(jid, device, fp, now);
    await this.persist();
    return rec;
  }

  override async acceptChange(jid: string, device: number, fp: Uint8Array, now: number): Promise<TrustRecord> {
    const rec = await super.acceptChange(jid, device, fp, now);
    await this.persist();
    return rec;
  }
}
