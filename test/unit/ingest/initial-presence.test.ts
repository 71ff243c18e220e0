// The vault's initial presence as a start step: when it cannot be sent the step rejects and leaves
// no listener behind (the composition root then closes what the earlier steps opened); when sent,
// it is sent again at each new session until close().
import { describe, expect, it } from 'vitest';
import { registerInitialPresence } from '../../../src/ingest/index.js';
import { silentLogger } from '../../../src/log/index.js';
import type { Element } from '../../../src/xmpp/index.js';

function fakeConn(fail: boolean) {
  const sent: Element[] = [];
  const listeners = new Set<() => void>();
  return {
    sent,
    listeners,
    conn: {
      send: (el: Element) => (fail ? Promise.reject(new Error('stream closed')) : Promise.resolve(void sent.push(el))),
      on: (_event: string, listener: () => void) => {
        listeners.add(listener);
        return () => void listeners.delete(listener);
      },
    },
  };
}

describe('initial presence', () => {
  it('rejects when the presence cannot be sent, leaving no listener', async () => {
    const f = fakeConn(true);
    await expect(registerInitialPresence({ conn: f.conn as never, logger: silentLogger() })).rejects.toThrow('stream closed');
    expect(f.listeners.size).toBe(0);
  });

  it('sends priority 1 now and at each new session, until closed', async () => {
    const f = fakeConn(false);
    const surface = await registerInitialPresence({ conn: f.conn as never, logger: silentLogger() });
    expect(f.sent.map((s) => s.getChildText('priority'))).toEqual(['1']);
    for (const l of f.listeners) l();
    expect(f.sent).toHaveLength(2);
    surface.close();
    expect(f.listeners.size).toBe(0);
  });
});
