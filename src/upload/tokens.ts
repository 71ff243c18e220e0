// Upload tokens are kept only as hashes (a stolen slot record grants nothing) and compared in
// constant time.
import { createHash, timingSafeEqual } from 'node:crypto';

export function tokenKey(token: string): string {
  return createHash('sha256').update(`sealpost/v1/upload-token\0${token}`).digest('hex');
}

export function tokenMatches(token: string | undefined, key: string): boolean {
  if (token === undefined || token.length === 0 || token.length > 128) return false;
  const a = Buffer.from(tokenKey(token), 'hex');
  const b = Buffer.from(key, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
