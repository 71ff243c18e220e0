// Attack 10 of issue 14: normalisation. The vault folded JIDs with toLowerCase + NFC while the
// XMPP server prepares them with stringprep's nodeprep (B.2 case folding, NFKC, Unicode 3.2), so
// two accounts Prosody keeps apart (ᏣᎳᎩ and ꮳꮃꭹ, ｆｕｌｌ and full's twin) mapped to one
// archive owner. The oracle is the server's own code: Prosody's util.encodings, run by its Lua.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseJid } from '../../src/jid/index.js';
import { which } from '../../src/localdev/proc.js';

/** Runs Prosody's nodeprep or nameprep over `inputs`; undefined where it refuses. */
function prosodyPrep(kind: 'node' | 'name', inputs: readonly string[]): (string | undefined)[] {
  const bin = which('prosody');
  if (bin === undefined) throw new Error('prosody is not installed: the oracle is its util.encodings');
  const script = readFileSync(bin, 'utf8');
  const lua = /^#!\/usr\/bin\/env (\S+)/.exec(script)?.[1] ?? 'lua';
  const lib = /CFG_SOURCEDIR\s*=\s*'([^']+)'/.exec(script)?.[1] ?? '/usr/lib/prosody';
  const code = `package.path = ${JSON.stringify(`${lib}/?.lua;`)} .. package.path
package.cpath = ${JSON.stringify(`${lib}/?.so;`)} .. package.cpath
local prep = require("util.encodings").stringprep.${kind}prep
for line in io.lines() do local r = prep(line); io.write(r == nil and "!" or ("=" .. r), "\\n") end`;
  const out = execFileSync(lua, ['-e', code], { input: inputs.map((s) => `${s}\n`).join(''), maxBuffer: 1 << 26 }).toString('utf8');
  const lines = out.split('\n').slice(0, inputs.length);
  expect(lines).toHaveLength(inputs.length);
  return lines.map((l) => (l.startsWith('=') ? l.slice(1) : undefined));
}

/** Our answer for a localpart or domainpart, undefined where src/jid refuses. */
function ours(kind: 'node' | 'name', part: string): string | undefined {
  try {
    const jid = parseJid(kind === 'node' ? `${part}@example.org` : `user@${part}`);
    return kind === 'node' ? jid.local : jid.domain;
  } catch {
    return undefined;
  }
}

/** Every disagreement: where we accept, our answer must be the server's. */
function disagreements(kind: 'node' | 'name', inputs: readonly string[]): string[] {
  const theirs = prosodyPrep(kind, inputs);
  const bad: string[] = [];
  inputs.forEach((input, i) => {
    const mine = ours(kind, input);
    if (mine !== undefined && mine !== theirs[i]) bad.push(`${JSON.stringify(input)}: ours ${JSON.stringify(mine)}, server ${JSON.stringify(theirs[i])}`);
  });
  return bad;
}

const SAMPLES = [
  'Alice', 'ALICE', 'straße', 'STRASSE', 'İstanbul', 'istanbul', 'ıi', 'ΣΟΦΟΣ', 'σοφος', 'σοφοσ', 'ｆｕｌｌ', 'full',
  'ᏣᎳᎩ', 'ꮳꮃꭹ', 'ﬁle', 'file', 'Ⅻ', '㎓', '℃', 'ǅungla', 'ǆungla', 'e\u0301mile', 'émile', 'Émile', 'ÉMILE', 'ſun',
  'ΐ', 'ᾀ', 'ẞ', 'Ⴀ', 'ⴀ', 'Ა', 'ა', 'ⱼ', 'j', 'Ꙁ', 'ꙁ', 'a\u00adb', 'a\u200db', 'ǰ', 'ŉ', 'Ⅰ', 'ⅰ', 'Å', 'å', 'Å',
  'ӷ', 'Ӷ', 'ԁ', 'Ԁ', 'Ͱ', 'ͱ', 'Ϗ', 'ϗ', '𐐀', '𐐨', '𞤀', '𞤢', 'אב', 'אa', 'ab\u05d0', '١٢', 'a\u0660', '\u2ffb', '\ue000',
];

describe('attack: JID normalisation', () => {
  it('agrees with Prosody\'s nodeprep on localparts across scripts (case, ß, İ, final sigma, fullwidth, Cherokee, ligatures) or refuses them', () => {
    expect(disagreements('node', SAMPLES)).toEqual([]);
  });

  it('never accepts a code point (U+0080..U+2FFFF, alone and after "a") that the server would prepare otherwise', () => {
    const cps: string[] = [];
    for (let cp = 0x80; cp <= 0x2ffff; cp++) if (cp < 0xd800 || cp > 0xdfff) cps.push(String.fromCodePoint(cp));
    expect(disagreements('node', cps)).toEqual([]);
    expect(disagreements('node', cps.map((c) => `a${c}`))).toEqual([]);
    expect(disagreements('name', cps)).toEqual([]);
  });

  it('never gives two localparts the server keeps apart one archive owner', () => {
    const inputs = [...SAMPLES, ...SAMPLES.map((s) => s.toUpperCase()), ...SAMPLES.map((s) => s.toLowerCase())];
    const theirs = prosodyPrep('node', inputs);
    const owner = new Map<string, string>();
    inputs.forEach((input, i) => {
      const mine = ours('node', input);
      const server = theirs[i];
      if (mine === undefined || server === undefined) return;
      const before = owner.get(mine);
      expect(before === undefined || before === server, `${JSON.stringify(input)} -> ${mine}`).toBe(true);
      owner.set(mine, server);
    });
    expect(owner.size).toBeGreaterThan(10);
  });
});
