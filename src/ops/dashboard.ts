// The BullMQ dashboard (bull-board) for operators, mounted on the operations endpoint under
// /queues behind a token, read-only unless configured otherwise. The only module importing
// bull-board (and express, which it runs on). Jobs hold ids, JIDs and ciphertext only, so the
// dashboard shows nothing the queue itself does not.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import express from 'express';
import type { Queue } from '../workers/index.js';
import { requireToken } from './token.js';

export const DASHBOARD_PATH = '/queues';

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** Methods that only read; bull-board changes jobs with PUT, POST and DELETE. */
const READS = new Set(['GET', 'HEAD']);

/**
 * A request handler for everything under /queues; answers 401 without the token. Read-only unless
 * `writable` (issue 14: a leaked token could retry, clean or remove jobs holding others' messages):
 * bull-board's own read-only mode, and any method but GET/HEAD refused with 405 before it.
 */
export function createDashboard(queues: readonly Queue[], token: string, writable = false): RequestHandler {
  const adapter = new ExpressAdapter();
  adapter.setBasePath(DASHBOARD_PATH);
  createBullBoard({ queues: queues.map((q) => new BullMQAdapter(q, { readOnlyMode: !writable })), serverAdapter: adapter });
  const app = express();
  app.disable('x-powered-by');
  app.use(DASHBOARD_PATH, adapter.getRouter() as express.Router);
  return (req, res) => {
    if (!requireToken(req, res, token)) return;
    if (!writable && !READS.has(req.method ?? 'GET')) {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('the queue dashboard is read-only (SEALPOST_DASHBOARD_WRITABLE)\n');
      return;
    }
    app(req, res);
  };
}
