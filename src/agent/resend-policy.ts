// When the sender sends an unacknowledged submission again (invariant 2: the SDK keeps and resends
// it until the receipt). The timer sends a message again `afterMs` after it went out, then after
// twice that, and so on up to eight times that: a backlog larger than the vault takes in that time
// is not sent over and over (a resend storm kept a slow vault from ever catching up). A resend
// without an age (a reconnect, the vault back) sends everything at once.
import type { OutboxEntry } from './outbox.js';

export class ResendPolicy {
  /** Per unacknowledged message: when the timer last sent it again, and the wait before the next time. */
  private readonly resent = new Map<string, { at: number; gap: number }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly afterMs: number) {}

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

  /** The message is settled (receipt or refusal): no more resends. */
  forget(messageId: string): void {
    this.resent.delete(messageId);
  }
}
