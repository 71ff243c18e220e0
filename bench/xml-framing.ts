// `npx tsx bench/xml-framing.ts`: what parsing large stanzas costs with xmpp.js's parser fed each
// socket chunk as it comes (as @xmpp/connection does) against the same parser fed whole stanzas by
// our framer (src/xmpp/stanza-bound.ts, issue 14 attack 5). ltx copies a stanza's pending text
// again on every chunk, so its cost grows with the square of the stanza size over the chunk size.
// Figures: CPU ms (process.cpuUsage) to parse 20 stanzas of each size, median of --runs rounds.
// Usage: npx tsx bench/xml-framing.ts [--runs N] [--json]
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Parser } from '@xmpp/xml';
import { StanzaFramer } from '../src/xmpp/stanza-bound.js';
import { median } from './lib/stats.js';

const { values: args } = parseArgs({ options: { json: { type: 'boolean', default: false }, runs: { type: 'string', default: '5' } } });
const RUNS = Number(args.runs);
if (!Number.isInteger(RUNS) || RUNS < 1) throw new RangeError(`--runs: expected a positive integer, got ${args.runs}`);

const HEADER = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";
const STANZAS = 20;

function stream(stanzaBytes: number): Buffer {
  const body = randomBytes(Math.floor((stanzaBytes * 3) / 4)).toString('base64');
  const one = `<message from='a@x/r' id='m'><sealed xmlns='urn:sealpost:sealed:1'>${body}</sealed></message>`;
  return Buffer.from(HEADER + one.repeat(STANZAS));
}

/** CPU ms to parse `data` delivered in `chunk`-byte pieces; checks every stanza came out. */
function parse(data: Buffer, chunk: number, framed: boolean): number {
  const parser = new Parser();
  let seen = 0;
  parser.on('element', () => seen++);
  const framer = new StanzaFramer(16 * 1024 * 1024, 2);
  const t0 = process.cpuUsage();
  for (let i = 0; i < data.length; i += chunk) {
    const piece = data.subarray(i, i + chunk);
    if (framed) for (const p of framer.push(piece)) parser.write(p.text);
    else parser.write(piece.toString('utf8'));
  }
  const used = process.cpuUsage(t0);
  if (seen !== STANZAS) throw new Error(`parsed ${seen} stanzas, expected ${STANZAS}`);
  return (used.user + used.system) / 1000;
}

const rows: { stanzaKiB: number; chunkKiB: number; direct: number; framed: number }[] = [];
for (const stanzaKiB of [64, 240, 1024])
  for (const chunkKiB of [4, 16, 64]) {
    const data = stream(stanzaKiB * 1024);
    const direct = median(Array.from({ length: RUNS }, () => parse(data, chunkKiB * 1024, false)));
    const framed = median(Array.from({ length: RUNS }, () => parse(data, chunkKiB * 1024, true)));
    rows.push({ stanzaKiB, chunkKiB, direct, framed });
  }

if (args.json) process.stdout.write(JSON.stringify({ stanzas: STANZAS, runs: RUNS, rows }) + '\n');
else {
  process.stdout.write(`CPU ms to parse ${STANZAS} stanzas (median of ${RUNS}): xmpp.js parser fed each chunk vs fed whole stanzas by the framer\n`);
  process.stdout.write('stanza KiB  chunk KiB   direct ms   framed ms\n');
  for (const r of rows)
    process.stdout.write(`${String(r.stanzaKiB).padStart(10)} ${String(r.chunkKiB).padStart(10)} ${r.direct.toFixed(1).padStart(11)} ${r.framed.toFixed(1).padStart(11)}\n`);
}
