// The composition root's cleanup stack: what was opened closes newest first, exactly once; a close
// that fails does not keep the older parts open; a failed open step reports its own error.
import { describe, expect, it } from 'vitest';
import { cleanupStack } from '../../../src/lifecycle/index.js';
import { silentLogger } from '../../../src/log/index.js';

function part(name: string, closed: string[], fail = false) {
  return {
    close: async () => {
      await Promise.resolve();
      closed.push(name);
      if (fail) throw new Error(`${name} would not close`);
    },
  };
}

describe('cleanup stack', () => {
  it('closes what was opened, newest first, once', async () => {
    const closed: string[] = [];
    const stack = cleanupStack(silentLogger());
    stack.push('a', part('a', closed));
    await stack.open('b', () => part('b', closed));
    await stack.open('c', () => ({ id: 'c' }), () => void closed.push('c'));
    expect(stack.names).toEqual(['a', 'b', 'c']);
    await Promise.all([stack.close(), stack.close()]);
    await stack.close();
    expect(closed).toEqual(['c', 'b', 'a']);
    expect(stack.names).toEqual([]);
  });

  it('keeps closing past a failed close and rejects with that failure', async () => {
    const closed: string[] = [];
    const stack = cleanupStack(silentLogger());
    stack.push('a', part('a', closed));
    stack.push('b', part('b', closed, true));
    stack.push('c', part('c', closed));
    await expect(stack.close()).rejects.toThrow('b would not close');
    expect(closed).toEqual(['c', 'b', 'a']);
  });

  it('a failed open step pushes nothing and rejects with its own error; the earlier parts stay for the caller to close', async () => {
    const closed: string[] = [];
    const stack = cleanupStack(silentLogger());
    stack.push('a', part('a', closed));
    await expect(stack.open('b', () => Promise.reject(new Error('port in use')))).rejects.toThrow('port in use');
    expect(stack.names).toEqual(['a']);
    await stack.close();
    expect(closed).toEqual(['a']);
    expect(() => stack.push('late', part('late', closed))).toThrow(/opened after close/);
  });
});
