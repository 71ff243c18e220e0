// Where a service URL points: loopback services (the dev/test Prosody and Redis) never leave the
// machine, so the XMPP layer may skip TLS for them and the local harness may start them itself.

/** True when the URL's host is loopback (localhost, [::1], 127.0.0.0/8); false for anything unparsable. */
export function isLoopbackUrl(url: string): boolean {
  try {
    const host = new URL(url).hostname;
    return host === 'localhost' || host === '[::1]' || host.startsWith('127.');
  } catch {
    return false;
  }
}
