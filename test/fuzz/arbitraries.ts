// fast-check arbitraries for fuzzing the vault's handlers (issue 9): stanzas built at random from
// the names, namespaces and attributes the handlers know, and valid seed stanzas (a submission, a
// batch, each key IQ, MAM queries, archive operations) under random mutations — attributes set,
// dropped or garbled, children deleted, repeated past the limits, renamed, moved into another
// namespace, text truncated or replaced with odd numbers, dates, base64, JIDs and real ids.
import fc from 'fast-check';
import { NS } from '../../src/protocol/namespaces.js';
import { xml, type Element } from '../../src/xmpp/index.js';

const NS_ARCHIVE = 'urn:sealpost:archive:1';

const NAMES = [
  'message', 'iq', 'sealed', 'key', 'payload', 'request', 'received', 'stored', 'rejected', 'bundle', 'spk', 'opk', 'ak',
  'publish', 'fetch', 'count', 'devices', 'remove', 'query', 'x', 'field', 'value', 'set', 'max', 'after', 'before',
  'index', 'first', 'last', 'flip-page', 'delete', 'item', 'retention', 'entry', 'body', 'error', 'announce',
] as const;
const NAMESPACES = [...Object.values(NS), NS_ARCHIVE, 'jabber:client', '', 'urn:example:unknown'];
const ATTRS = [
  'id', 'to', 'type', 'suite', 'device', 'prekey', 'ak', 'size', 'jid', 'ik', 'pub', 'sig', 'expires', 'var', 'queryid',
  'node', 'with', 'start', 'end', 'all', 'expire', 'remaining', 'xmlns', 'xml:lang', 'from',
] as const;

const NUMBERS = [
  '0', '1', '-1', '01', '1.5', '1e3', 'NaN', 'Infinity', '0x10', ' 1', '1 ', '+1', '2147483647', '2147483648', '4294967295',
  '4294967296', '9007199254740991', '9007199254740993', '18446744073709551616', '99999999999999999999999', '',
];
const DATES = [
  '1970-01-01T00:00:00Z', '2000-01-01T00:00:00Z', '2020-13-45T25:61:61Z', '9999-12-31T23:59:59.999Z', '2020-01-01',
  '2020-01-01T00:00:00+25:00', '2020-01-01T00:00:00.123456789Z', '-000001-01-01T00:00:00Z', '275760-09-13T00:00:00.001Z',
  'yesterday', '2020-02-30T00:00:00Z',
];
const JIDS = [
  'mallory@localhost', 'MALLORY@LOCALHOST', 'mallory@localhost/x', 'bob@localhost', 'alice@localhost', 'vault@localhost',
  'localhost', '@localhost', 'a@', 'a@localhost/', '/r', 'a@b/c/d', 'x@[::1]', 'a@localhost.', 'ß@localhost',
  'a b@localhost', 'a@b@c', `${'x'.repeat(1100)}@localhost`, 'mallory@other.example', '',
];

/** Characters an XML 1.0 document may hold: what a real XMPP server could pass on. */
const xmlSafe = (s: string): string => s.replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '?');

export interface ArbOptions {
  /** Real ids, JIDs and device ids to plant. */
  tokens: readonly string[];
  /** Over the wire: only characters XML allows (a server would close the stream otherwise). */
  wire?: boolean;
}

export function valueArb(o: ArbOptions): fc.Arbitrary<string> {
  const raw = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...o.tokens) },
    { weight: 3, arbitrary: fc.constantFrom(...NUMBERS) },
    { weight: 2, arbitrary: fc.integer({ min: -3, max: 2 ** 32 + 3 }).map(String) },
    { weight: 2, arbitrary: fc.constantFrom(...DATES) },
    { weight: 1, arbitrary: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()) },
    { weight: 2, arbitrary: fc.constantFrom(...JIDS) },
    { weight: 2, arbitrary: fc.base64String({ maxLength: 160 }) },
    { weight: 2, arbitrary: fc.uint8Array({ minLength: 0, maxLength: 120 }).map((b) => Buffer.from(b).toString('base64')) },
    { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 16 }) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 16 }) },
    { weight: 1, arbitrary: fc.integer({ min: 1000, max: 70_000 }).map((n) => 'A'.repeat(n)) },
  );
  return o.wire === true ? raw.map(xmlSafe) : raw;
}

/** A random element tree (depth ≤ 3) over the names and namespaces the handlers know. */
export function elementArb(o: ArbOptions): fc.Arbitrary<Element> {
  const value = valueArb(o);
  const attrs = fc.dictionary(fc.constantFrom(...ATTRS.filter((a) => a !== 'xmlns')), value, { maxKeys: 4 });
  const { tree } = fc.letrec<{ tree: Element; node: Element | string }>((tie) => ({
    tree: fc
      .record({
        name: fc.constantFrom(...NAMES),
        ns: fc.option(fc.constantFrom(...NAMESPACES), { nil: undefined }),
        attrs,
        children: fc.array(tie('node'), { maxLength: 4 }),
      })
      .map(({ name, ns, attrs: a, children }) => xml(name, { ...a, ...(ns === undefined ? {} : { xmlns: ns }) }, ...children)),
    node: fc.oneof({ maxDepth: 3, depthIdentifier: 'element' }, value, tie('tree')),
  }));
  return tree;
}

type Op =
  | 'set-attr' | 'del-attr' | 'set-text' | 'append-text' | 'delete-child' | 'repeat-child' | 'insert'
  | 'rename' | 'set-ns' | 'truncate' | 'flip-char' | 'swap' | 'wrap';

interface Mutation {
  op: Op;
  at: number;
  pick: number;
  name: string;
  attr: string;
  ns: string;
  value: string;
  times: number;
  el: Element;
}

function mutationArb(o: ArbOptions): fc.Arbitrary<Mutation> {
  return fc.record({
    op: fc.constantFrom<Op>('set-attr', 'set-attr', 'del-attr', 'set-text', 'append-text', 'delete-child', 'repeat-child', 'insert', 'rename', 'set-ns', 'truncate', 'flip-char', 'swap', 'wrap'),
    at: fc.nat(),
    pick: fc.nat(),
    name: fc.constantFrom(...NAMES),
    attr: fc.constantFrom(...ATTRS),
    ns: fc.constantFrom(...NAMESPACES),
    value: valueArb(o),
    times: fc.oneof(fc.integer({ min: 1, max: 3 }), fc.constantFrom(31, 32, 33, 63, 64, 65, 101, 1001)),
    el: elementArb(o),
  });
}

/** A deep copy (attributes and children). */
export function cloneElement(el: Element): Element {
  return xml(el.name, { ...el.attrs }, ...el.children.map((c) => (typeof c === 'string' ? c : cloneElement(c))));
}

function elementsOf(root: Element): Element[] {
  const out: Element[] = [root];
  for (let i = 0; i < out.length; i++) for (const c of (out[i] as Element).getChildElements()) out.push(c);
  return out;
}

function setText(el: Element, text: string): void {
  el.children = [text];
}

/** Applies one mutation to `root` in place (its root element stays a stanza). */
export function mutate(root: Element, m: Mutation): void {
  const nodes = elementsOf(root);
  const node = nodes[m.at % nodes.length] as Element;
  const kids = node.children;
  const kidAt = kids.length === 0 ? -1 : m.pick % kids.length;
  const attrNames = Object.keys(node.attrs);
  switch (m.op) {
    case 'set-attr':
      node.attrs[m.pick % 3 === 0 && attrNames.length > 0 ? (attrNames[m.pick % attrNames.length] as string) : m.attr] = m.value;
      break;
    case 'del-attr':
      if (attrNames.length > 0) delete node.attrs[attrNames[m.pick % attrNames.length] as string];
      break;
    case 'set-text':
      if (node !== root) setText(node, m.value);
      break;
    case 'append-text':
      node.children.push(m.value);
      break;
    case 'delete-child':
      if (kidAt >= 0) kids.splice(kidAt, 1);
      break;
    case 'repeat-child': {
      const kid = kids[kidAt];
      if (kid === undefined) break;
      for (let i = 0; i < Math.min(m.times, 1001); i++) {
        if (typeof kid === 'string') kids.push(kid);
        else node.append(cloneElement(kid));
      }
      break;
    }
    case 'insert':
      node.append(m.el);
      break;
    case 'rename':
      if (node !== root) node.name = m.name;
      break;
    case 'set-ns':
      node.attrs.xmlns = m.ns;
      break;
    case 'truncate': {
      const t = node.getText();
      if (t.length > 0) setText(node, t.slice(0, m.pick % t.length));
      else if (attrNames.length > 0) {
        const a = attrNames[m.pick % attrNames.length] as string;
        const v = String(node.attrs[a]);
        node.attrs[a] = v.slice(0, v.length > 0 ? m.pick % v.length : 0);
      }
      break;
    }
    case 'flip-char': {
      const t = node.getText();
      if (t.length > 0 && node !== root) {
        const i = m.pick % t.length;
        setText(node, `${t.slice(0, i)}${String.fromCharCode((t.charCodeAt(i) ^ (1 << (m.times % 7))) || 65)}${t.slice(i + 1)}`);
      } else if (attrNames.length > 0) {
        const a = attrNames[m.pick % attrNames.length] as string;
        const v = String(node.attrs[a]);
        if (v.length > 0) {
          const i = m.pick % v.length;
          node.attrs[a] = `${v.slice(0, i)}${String.fromCharCode((v.charCodeAt(i) ^ 1) || 65)}${v.slice(i + 1)}`;
        }
      }
      break;
    }
    case 'swap':
      if (kids.length > 1) {
        const j = (kidAt + 1 + (m.times % (kids.length - 1))) % kids.length;
        [kids[kidAt], kids[j]] = [kids[j] as Element | string, kids[kidAt] as Element | string];
      }
      break;
    case 'wrap': {
      const kid = kids[kidAt];
      if (kid === undefined || typeof kid === 'string') break;
      const wrapper = xml(m.name, { xmlns: m.ns });
      kids[kidAt] = wrapper;
      wrapper.parent = node;
      wrapper.append(kid);
      break;
    }
  }
}

export interface CaseOptions extends ArbOptions {
  seeds: readonly Element[];
  /** Stamped senders to use (the XMPP server's `from`); undefined leaves `from` out. */
  from: fc.Arbitrary<string | undefined>;
}

/** One stanza to feed the vault: mostly a mutated seed, sometimes a random tree. */
export function stanzaArb(o: CaseOptions): fc.Arbitrary<Element> {
  const mutated = fc
    .record({ seed: fc.nat({ max: o.seeds.length - 1 }), mutations: fc.array(mutationArb(o), { maxLength: 4 }), from: o.from })
    .map(({ seed, mutations, from }) => {
      const stanza = cloneElement(o.seeds[seed] as Element);
      for (const m of mutations) mutate(stanza, m);
      return stamp(stanza, from);
    });
  const random = fc
    .record({ root: fc.constantFrom('message', 'iq'), type: fc.constantFrom('get', 'set', 'normal', 'chat', 'error', 'result', undefined), body: fc.array(elementArb(o), { maxLength: 3 }), id: valueArb(o), from: o.from })
    .map(({ root, type, body, id, from }) => stamp(xml(root, { to: 'vault@localhost/vault', id, ...(type === undefined ? {} : { type }) }, ...body), from));
  return fc.oneof({ weight: 4, arbitrary: mutated }, { weight: 1, arbitrary: random });
}

function stamp(stanza: Element, from: string | undefined): Element {
  if (from === undefined) delete stanza.attrs.from;
  else stanza.attrs.from = from;
  return stanza;
}

/** Stamped senders for direct calls: mostly the attacker, also spellings of it, servers and junk. */
export function fromArb(attacker: string): fc.Arbitrary<string | undefined> {
  return fc.oneof(
    { weight: 8, arbitrary: fc.constant(attacker) },
    { weight: 2, arbitrary: fc.constantFrom('MALLORY@localhost/other', 'mallory@LOCALHOST', 'mallory@localhost', 'localhost', 'eve@other.example/r') },
    { weight: 1, arbitrary: fc.constantFrom(undefined, '', '@', 'a@b@c', '/x', `${'m'.repeat(2000)}@localhost`) },
    { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
  );
}
