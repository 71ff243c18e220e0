// A recipient agent as its own process for the file fault test (issue 17): saves the first file it
// receives to SP_OUT, printing `progress <done> <total>` lines (slowed by SP_SLOW_MS per MiB, so a
// test can kill it mid-download) and `saved <sha256>` once saveTo resolved. Run with `node --import tsx`.
import { createAgent } from '../../src/agent/index.js';

const env = (k: string): string => {
  const v = process.env[k];
  if (v === undefined) throw new Error(`${k} missing`);
  return v;
};
const slow = Number(process.env.SP_SLOW_MS ?? '0');
const print = (line: string): boolean => process.stdout.write(`${line}\n`);

const agent = await createAgent({
  xmpp: { service: env('SP_XMPP_SERVICE'), domain: env('SP_DOMAIN'), username: env('SP_USER'), password: env('SP_PASS') },
  vault: env('SP_VAULT'),
  dir: env('SP_DIR'),
  secret: { key: new Uint8Array(Buffer.from(env('SP_KEY'), 'base64')) },
});
let done: () => void = () => undefined;
const finished = new Promise<void>((resolve) => (done = resolve));
agent.onMessage(async (m) => {
  if (m.file() === undefined) return;
  const saved = await m.saveTo(env('SP_OUT'), {
    onProgress: async (n, total) => {
      print(`progress ${n} ${total}`);
      if (slow > 0) await new Promise((r) => setTimeout(r, slow));
    },
  });
  print(`saved ${saved.sha256}`);
  setTimeout(done, 500); // the receipt goes out after the handler
});
await finished;
await agent.stop();
process.exit(0);
