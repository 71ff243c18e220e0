// The BullMQ dashboard (bull-board) for operators, mounted on the operations endpoint under
// /queues behind a token. The only module importing bull-board (and express, which it runs on). Jobs hold ids, JIDs and
// ciphertext only, so the dashboard shows nothing the queue itself does not.
import { timingSafeEqual, createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import express from 'express';
import type { Queue } from '../workers/index.js';

export const DASHBOARD_PATH = '/queues';

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

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

/** A request handler for everything under /queues; answers 401 without the token. */
export function createDashboard(queues: readonly Queue[], token: string): RequestHandler {
  const adapter = new ExpressAdapter();
  adapter.setBasePath(DASHBOARD_PATH);
  createBullBoard({ queues: queues.map((q) => new BullMQAdapter(q, { readOnlyMode: false })), serverAdapter: adapter });
  const app = express();
  app.disable('x-powered-by');
  app.use(DASHBOARD_PATH, adapter.getRouter() as express.Router);
  return (req, res) => {
    if (!hasToken(req, token)) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="sealpost queues"', 'content-type': 'text/plain' }).end('token required\n');
      return;
    }
    app(req, res);
  };
}
