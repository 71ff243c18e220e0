// Where a service URL points: loopback services (the dev/test Prosody and Redis) never leave the
// machine, so the XMPP layer may skip TLS for them and the local harness may start them itself.
// Where our own HTTP listeners are: listenHttp.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** True when the URL's host is loopback (localhost, [::1], 127.0.0.0/8); false for anything unparsable. */
export function isLoopbackUrl(url: string): boolean {
  try {
    const host = new URL(url).hostname;
    return host === 'localhost' || host === '[::1]' || host.startsWith('127.');
  } catch {
    return false;
  }
}

/** Starts `server` on host:port (0 = a free port) and resolves with its `http://host:port` URL. */
export async function listenHttp(server: Server, port: number, host: string): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  return `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
}
