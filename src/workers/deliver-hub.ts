// In-process signals for running delivery jobs: receipts (acks), the device going away, a new
// presence (kick), shutdown. A job waits on its session instead of polling Redis for each event;
// across processes the job still polls the presence registry, so the hub is a fast path only.

export interface Ack {
  sender: string;
  messageId: string;
}

export class DeliverySession {
  gone = false;
  kicked = false;
  stopped = false;
  private acks: Ack[] = [];
  private wake: (() => void) | undefined;

  constructor(
    readonly jid: string,
    readonly device: number,
  ) {}

  /** Resolves on the next signal or after `ms`. */
  wait(ms: number): Promise<void> {
    if (this.acks.length > 0 || this.gone || this.kicked || this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }

  takeAcks(): Ack[] {
    const out = this.acks;
    this.acks = [];
    return out;
  }

  signal(change: (s: this) => void): void {
    change(this);
    this.wake?.();
  }

  pushAck(ack: Ack): void {
    this.signal((s) => s.acks.push(ack));
  }
}

const key = (jid: string, device: number): string => `${device}\u0000${jid}`;

export class DeliveryHub {
  private readonly sessions = new Map<string, Set<DeliverySession>>();
  private stopping = false;

  open(jid: string, device: number): DeliverySession {
    const s = new DeliverySession(jid, device);
    s.stopped = this.stopping;
    const k = key(jid, device);
    let set = this.sessions.get(k);
    if (set === undefined) this.sessions.set(k, (set = new Set()));
    set.add(s);
    return s;
  }

  close(s: DeliverySession): void {
    const k = key(s.jid, s.device);
    const set = this.sessions.get(k);
    set?.delete(s);
    if (set?.size === 0) this.sessions.delete(k);
  }

  private each(jid: string, device: number, fn: (s: DeliverySession) => void): void {
    for (const s of this.sessions.get(key(jid, device)) ?? []) fn(s);
  }

  /** A receipt from the device was recorded. */
  acked(jid: string, device: number, sender: string, messageId: string): void {
    this.each(jid, device, (s) => s.pushAck({ sender, messageId }));
  }

  /** The device went unavailable: stop sending to it. */
  gone(jid: string, device: number): void {
    this.each(jid, device, (s) => s.signal((x) => (x.gone = true)));
  }

  /** The device announced itself (again): resend what is unacknowledged, to where it is now. */
  kick(jid: string, device: number): void {
    this.each(jid, device, (s) => s.signal((x) => (x.kicked = true)));
  }

  /** A shard stops here (issue 15): the jobs of its users end promptly, their copies stay pending. */
  stopWhere(mine: (jid: string) => boolean): void {
    for (const set of this.sessions.values()) for (const s of set) if (mine(s.jid)) s.signal((x) => (x.stopped = true));
  }

  /** Service stopping: every job ends promptly, its copies stay pending. */
  shutdown(): void {
    this.stopping = true;
    for (const set of this.sessions.values()) for (const s of set) s.signal((x) => (x.stopped = true));
  }

  get running(): number {
    let n = 0;
    for (const set of this.sessions.values()) n += set.size;
    return n;
  }
}
