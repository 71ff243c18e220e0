// Runs tasks one after another per key (here: per sender), so one sender's submissions are
// checked and enqueued in the order the XMPP server delivered them (invariant 3), while
// different senders proceed in parallel.
export type Serializer = (key: string, task: () => Promise<void>) => Promise<void>;

export function keyedSerializer(): Serializer {
  const tails = new Map<string, Promise<void>>();
  return (key, task) => {
    const run = (tails.get(key) ?? Promise.resolve()).then(task, task);
    const tail = run.catch(() => undefined);
    tails.set(key, tail);
    void tail.then(() => {
      if (tails.get(key) === tail) tails.delete(key);
    });
    return run;
  };
}
