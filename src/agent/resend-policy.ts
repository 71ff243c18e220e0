// When the sender sends an unacknowledged submission again (invariant 2: the SDK keeps and resends
// it until the receipt). The timer sends a message again `afterMs` after it went out, then after
// twice that, and so on up to eight times that: a backlog larger than the vault takes in that time
// is not sent over and over (a resend storm kept a slow vault from ever catching up). A resend
// without an age (a reconnect, the vault back) sends everything at once.
// A refusal with resource-constraint (the recipient's quota, issue 14) is not a reason to send the
// same message for ever: each one doubles the wait before the next resend of that message, and
// after `quotaRetries` resends the message is given up (the sender rejects it to the application).
import type { OutboxEntry } from './outbox.js';

/** What to do after the vault asked to wait: send again later, or give up. */
export type WaitVerdict = 'resend' | 'give-up';

export class ResendPolicy {
  /** Per unacknowledged message: when the timer last sent it again, and the wait before the next time. */
  private readonly resent = new Map<string, { at: number; gap: number }>();
  /** Per message: resource-constraint refusals so far. */
  private readonly quotaRefusals = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly afterMs: number,
    readonly quotaRetries = 4,
  ) {}

  /** Runs `resend(afterMs)` every half period (at least every second) until `stop`. */
  start(resend: (olderThanMs: number) => Promise<unknown>): void {
    const every = Math.max(1000, this.afterMs / 2);
    this.timer = setInterval(() => void resend(this.afterMs).catch(() => undefined), every).unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /**
   * The entries to send now, recording that they went: every one when `olderThanMs` is 0, else
   * those never resent and at least that old, and those whose backoff gap has passed.
   */
  due(entries: readonly OutboxEntry[], olderThanMs: number, now: number): OutboxEntry[] {
    const after = olderThanMs > 0 ? olderThanMs : this.afterMs;
    const due = entries.filter((e) => {
      if (olderThanMs === 0) return true;
      const r = this.resent.get(e.messageId);
      return r === undefined ? now - e.createdAt >= olderThanMs : now - r.at >= r.gap;
    });
    for (const e of due) {
      const r = this.resent.get(e.messageId);
      this.resent.set(e.messageId, { at: now, gap: r === undefined ? after : Math.min(r.gap * 2, after * 8) });
    }
    return due;
  }

  /**
   * The vault asked to wait with `condition`. For resource-constraint: the next resend of this
   * message waits afterMs × 2^n after the n-th refusal, and past `quotaRetries` resends it is
   * given up. Other conditions (a rate limit) keep the timer's pace.
   */
  waited(messageId: string, condition: string, now: number): WaitVerdict {
    if (condition !== 'resource-constraint') return 'resend';
    const n = (this.quotaRefusals.get(messageId) ?? 0) + 1;
    if (n > this.quotaRetries) return 'give-up';
    this.quotaRefusals.set(messageId, n);
    this.resent.set(messageId, { at: now, gap: this.afterMs * 2 ** n });
    return 'resend';
  }

  /** The message is settled (receipt or refusal): no more resends. */
  forget(messageId: string): void {
    this.resent.delete(messageId);
    this.quotaRefusals.delete(messageId);
  }
}
