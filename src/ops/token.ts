// The operator's token on the operations endpoint (/metrics, the queue dashboard): compared in
// constant time through SHA-256 digests, so neither its length nor its bytes leak by timing.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** True when the request carries the token: `Authorization: Bearer <token>` or Basic with it as password. */
export function hasToken(req: IncomingMessage, token: string): boolean {
  const header = req.headers.authorization ?? '';
  let offered: string | undefined;
  if (header.startsWith('Bearer ')) offered = header.slice(7);
  else if (header.startsWith('Basic ')) {
    const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
    offered = decoded.slice(decoded.indexOf(':') + 1);
  }
  return offered !== undefined && timingSafeEqual(digest(offered), digest(token));
}

/** Answers 401 unless the request carries the token; true when it does. */
export function requireToken(req: IncomingMessage, res: ServerResponse, token: string): boolean {
  if (hasToken(req, token)) return true;
  res.writeHead(401, { 'www-authenticate': 'Basic realm="sealpost ops"', 'content-type': 'text/plain' }).end('token required\n');
  return false;
}
