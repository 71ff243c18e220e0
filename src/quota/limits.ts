// A recipient's quota (design.md "Limits": per-recipient pending quota, count and bytes; issue 14,
// attacks 1 and 3): undelivered messages, history copies kept after delivery, and the share of
// each that one sender may hold, so a noisy sender fills its share and not everyone's. One check,
// run by the ingest on the owner's published use (refused at once, nothing queued) and by the
// owner at store time on its exact counters (items that raced past the ingest).
import type { Usage } from '../archive/index.js';
import { AppError, ErrorCode } from '../errors/index.js';
import type { EnvelopeWire } from '../keys/index.js';

export interface QuotaLimits {
  pendingMaxCount: number;
  pendingMaxBytes: number;
  /** History copies (archive blocks to the recipient's archive key) kept per recipient. */
  historyMaxCount: number;
  historyMaxBytes: number;
  /** Percent (1..100) of each of those bounds one sender may hold in one recipient's archive. */
  senderSharePercent: number;
}

/** What one item adds to its recipient's use. */
export interface Cost {
  /** Addressed to at least one device: a pending message. */
  pending: boolean;
  /** Payload and device key blocks. */
  pendingBytes: number;
  /** Carries a history copy for the recipient. */
  kept: boolean;
  /** Payload and the recipient's archive block. */
  keptBytes: number;
}

/** Decoded length of base64 (padded or not) without decoding it. */
function decodedLength(b64: string): number {
  const pad = b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0;
  return Math.floor((b64.length * 3) / 4) - pad;
}

/** The cost of a checked envelope, in the archive's own terms (schema v2's counters). */
export function costOf(env: Pick<EnvelopeWire, 'payload' | 'blocks'>): Cost {
  const payload = decodedLength(env.payload);
  const devices = env.blocks.filter((b) => b.device !== undefined);
  const archive = env.blocks.find((b) => b.ak === 'recipient');
  return {
    pending: devices.length > 0,
    pendingBytes: payload + devices.reduce((n, b) => n + decodedLength(b.box), 0),
    kept: archive !== undefined,
    keptBytes: archive === undefined ? 0 : payload + decodedLength(archive.box),
  };
}

const share = (max: number, percent: number): number => Math.max(1, Math.floor((max * percent) / 100));

/**
 * A recipient's running use and one sender's: `admit` refuses an item over a bound (naming it)
 * or adds the item to both, so the items of one job or stanza are counted one after another.
 */
export class QuotaCheck {
  private readonly total: Usage;
  private readonly sender: Usage;

  constructor(
    private readonly limits: QuotaLimits,
    private readonly recipient: string,
    total: Usage,
    sender: Usage,
  ) {
    this.total = { ...total };
    this.sender = { ...sender };
  }

  admit(cost: Cost): AppError | undefined {
    const l = this.limits;
    const r = this.recipient;
    const p = l.senderSharePercent;
    if (cost.pending) {
      if (this.total.pendingMessages + 1 > l.pendingMaxCount || this.total.pendingBytes + cost.pendingBytes > l.pendingMaxBytes)
        return refusal(`${r} has too many undelivered messages (its quota: ${l.pendingMaxCount} messages, ${l.pendingMaxBytes} bytes); retry once it has collected some`);
      if (this.sender.pendingMessages + 1 > share(l.pendingMaxCount, p) || this.sender.pendingBytes + cost.pendingBytes > share(l.pendingMaxBytes, p))
        return refusal(`your undelivered messages to ${r} are at your share of its pending quota (${share(l.pendingMaxCount, p)} messages, ${share(l.pendingMaxBytes, p)} bytes); retry once it has collected some`);
    }
    if (cost.kept) {
      if (this.total.keptMessages + 1 > l.historyMaxCount || this.total.keptBytes + cost.keptBytes > l.historyMaxBytes)
        return refusal(`${r}'s history is at its quota (${l.historyMaxCount} copies, ${l.historyMaxBytes} bytes): no more history copies until it deletes some`);
      if (this.sender.keptMessages + 1 > share(l.historyMaxCount, p) || this.sender.keptBytes + cost.keptBytes > share(l.historyMaxBytes, p))
        return refusal(`your history copies in ${r}'s archive are at your share of its history quota (${share(l.historyMaxCount, p)} copies, ${share(l.historyMaxBytes, p)} bytes)`);
    }
    for (const u of [this.total, this.sender]) {
      if (cost.pending) {
        u.pendingMessages += 1;
        u.pendingBytes += cost.pendingBytes;
      }
      if (cost.kept) {
        u.keptMessages += 1;
        u.keptBytes += cost.keptBytes;
      }
    }
    return undefined;
  }
}

const refusal = (text: string): AppError => new AppError(ErrorCode.ResourceLimit, text);
