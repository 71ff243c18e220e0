// XEP-0077 in-band registration over a plain loopback stream, written by hand so creating test
// accounts needs neither a client library nor a prosodyctl process (a few ms instead of ~50 ms).
// Only for the harness's own Prosody: no TLS, no SASL, one IQ, then the stream is closed.
import { createConnection } from 'node:net';
import { AppError, ErrorCode } from '../errors/index.js';

export interface InBandRegistration {
  host: string;
  port: number;
  domain: string;
  username: string;
  password: string;
  timeoutMs?: number;
}

const escapeXml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');

/** Registers `username` with `password`; AppError(Policy) on conflict or refusal. */
export function registerInBand(reg: InBandRegistration): Promise<void> {
  const id = `reg-${Math.random().toString(36).slice(2)}`;
  const open =
    `<?xml version='1.0'?><stream:stream to='${escapeXml(reg.domain)}' xmlns='jabber:client' ` +
    `xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`;
  const iq =
    `<iq type='set' id='${id}'><query xmlns='jabber:iq:register'>` +
    `<username>${escapeXml(reg.username)}</username><password>${escapeXml(reg.password)}</password>` +
    `</query></iq>`;
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: reg.host, port: reg.port });
    let buffer = '';
    let sent = false;
    let settled = false;
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      if (!socket.destroyed) socket.end('</stream:stream>');
      setTimeout(() => socket.destroy(), 200).unref();
      if (err) reject(err);
      else resolve();
    };
    socket.setTimeout(reg.timeoutMs ?? 5000, () =>
      finish(new AppError(ErrorCode.Timeout, `in-band registration of ${reg.username} timed out`)),
    );
    socket.once('error', (err) =>
      finish(new AppError(ErrorCode.Unavailable, `in-band registration: ${err.message}`, { cause: err })),
    );
    socket.once('close', () => finish(new AppError(ErrorCode.Unavailable, 'in-band registration: stream closed')));
    socket.once('connect', () => socket.write(open));
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      if (!sent && buffer.includes('</stream:features>')) {
        if (!buffer.includes('jabber.org/features/iq-register'))
          return finish(new AppError(ErrorCode.Policy, 'the server does not offer in-band registration'));
        sent = true;
        socket.write(iq);
        return;
      }
      if (buffer.includes('<stream:error')) return finish(new AppError(ErrorCode.Unavailable, streamError(buffer)));
      const reply = findReply(buffer, id);
      if (reply === undefined) return;
      if (/\btype=['"]result['"]/.test(reply)) return finish();
      finish(new AppError(ErrorCode.Policy, `registration of ${reg.username} refused: ${condition(reply)}`));
    });
  });
}

/** The complete <iq> reply with our id, once it has fully arrived. */
function findReply(buffer: string, id: string): string | undefined {
  const re = new RegExp(`<iq\\b[^>]*\\bid=['"]${id}['"][^>]*?(/>|>[\\s\\S]*?</iq>)`);
  return re.exec(buffer)?.[0];
}

function condition(reply: string): string {
  const m = /<([a-z-]+)\s+xmlns=['"]urn:ietf:params:xml:ns:xmpp-stanzas['"]/.exec(reply);
  return m?.[1] ?? 'unknown error';
}

function streamError(buffer: string): string {
  const m = /<([a-z-]+)\s+xmlns=['"]urn:ietf:params:xml:ns:xmpp-streams['"]/.exec(buffer);
  return `stream error: ${m?.[1] ?? 'unknown'}`;
}
