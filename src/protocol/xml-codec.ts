// XML forms of the key bundle (`<bundle/>` in urn:sealpost:keys:1) and the sealed envelope
// (`<sealed/>` in urn:sealpost:sealed:1). They map 1:1 onto the keys module's wire objects;
// the keys module does every length, base64 and signature check, this file only shapes and counts.
import { AppError, ErrorCode } from '../errors/index.js';
import type { BundleWire, EnvelopeWire, KeyBlockWire, PrekeyWire } from '../keys/index.js';
import { xml, type Element } from '../xmpp/index.js';
import { NS } from './namespaces.js';

const UINT = /^(0|[1-9][0-9]{0,15})$/;

function bad(text: string): never {
  throw new AppError(ErrorCode.BadInput, text);
}

/** Strict unsigned decimal attribute. */
export function uintAttr(el: Element, name: string, where: string): number {
  const v: unknown = el.attrs[name];
  if (typeof v !== 'string' || !UINT.test(v)) bad(`${where}: attribute ${name} must be an unsigned decimal integer`);
  return Number(v);
}

export function strAttr(el: Element, name: string, where: string): string {
  const v: unknown = el.attrs[name];
  if (typeof v !== 'string' || v.length === 0) bad(`${where}: attribute ${name} is missing`);
  return v;
}

function onlyChildren(el: Element, allowed: readonly string[], where: string, max: number): Element[] {
  const children = el.getChildElements();
  if (children.length > max) throw new AppError(ErrorCode.ResourceLimit, `${where}: ${children.length} child elements, at most ${max}`);
  for (const c of children) if (!allowed.includes(c.name)) bad(`${where}: unexpected element <${c.name}/>`);
  return children;
}

const prekeyAttrs = (p: PrekeyWire): Record<string, string> => ({ id: String(p.id), pub: p.pub, sig: p.sig });

function prekeyFromXml(el: Element, where: string): PrekeyWire {
  return { id: uintAttr(el, 'id', where), pub: strAttr(el, 'pub', where), sig: strAttr(el, 'sig', where) };
}

export function bundleToXml(b: BundleWire): Element {
  const el = xml('bundle', { xmlns: NS.keys, suite: b.suite, jid: b.jid, device: String(b.device), ik: b.ik });
  el.append(xml('spk', { ...prekeyAttrs(b.spk), expires: String(b.spk.expires) }));
  for (const p of b.opks) el.append(xml('opk', prekeyAttrs(p)));
  if (b.ak !== undefined) el.append(xml('ak', { ...prekeyAttrs(b.ak), ...(b.ak.suite === undefined ? {} : { suite: b.ak.suite }) }));
  return el;
}

/** `<bundle/>` → wire object; bounds the number of children before building anything. */
export function bundleFromXml(el: Element, maxOpks: number): BundleWire {
  if (el.name !== 'bundle' || el.getNS() !== NS.keys) bad('expected <bundle xmlns="urn:sealpost:keys:1"/>');
  const children = onlyChildren(el, ['spk', 'opk', 'ak'], 'bundle', maxOpks + 2);
  const spks = children.filter((c) => c.name === 'spk');
  const aks = children.filter((c) => c.name === 'ak');
  const opks = children.filter((c) => c.name === 'opk');
  if (opks.length > maxOpks)
    throw new AppError(ErrorCode.ResourceLimit, `bundle: ${opks.length} one-time prekeys, at most ${maxOpks} allowed`);
  const spk = spks[0];
  if (spks.length !== 1 || spk === undefined) bad('bundle: exactly one <spk/> required');
  if (aks.length > 1) bad('bundle: at most one <ak/>');
  const wire: BundleWire = {
    suite: strAttr(el, 'suite', 'bundle'),
    jid: strAttr(el, 'jid', 'bundle'),
    device: uintAttr(el, 'device', 'bundle'),
    ik: strAttr(el, 'ik', 'bundle'),
    spk: { ...prekeyFromXml(spk, 'bundle/spk'), expires: uintAttr(spk, 'expires', 'bundle/spk') },
    opks: opks.map((o, i) => prekeyFromXml(o, `bundle/opk[${i}]`)),
  };
  const ak = aks[0];
  if (ak !== undefined) {
    // The archive key's own suite (absent: sp1, X25519); the keys module refuses an unknown one.
    const suite: unknown = ak.attrs.suite;
    if (suite !== undefined && typeof suite !== 'string') bad('bundle/ak: attribute suite must be text');
    wire.ak = { ...prekeyFromXml(ak, 'bundle/ak'), ...(suite === undefined ? {} : { suite }) };
  }
  return wire;
}

function blockToXml(b: KeyBlockWire): Element {
  const attrs: Record<string, string> = { prekey: String(b.prekey) };
  if (b.device !== undefined) attrs.device = String(b.device);
  if (b.ak !== undefined) attrs.ak = b.ak;
  return xml('key', attrs, b.box);
}

export function envelopeToXml(e: EnvelopeWire): Element {
  const el = xml('sealed', {
    xmlns: NS.sealed,
    suite: e.suite,
    id: e.id,
    from: e.from,
    device: String(e.device),
    to: e.to,
    size: String(e.size),
  });
  for (const b of e.blocks) el.append(blockToXml(b));
  el.append(xml('payload', {}, e.payload));
  return el;
}

/** `<sealed/>` → wire object; at most `maxBlocks` key blocks. */
export function envelopeFromXml(el: Element, maxBlocks: number): EnvelopeWire {
  if (el.name !== 'sealed' || el.getNS() !== NS.sealed) bad('expected <sealed xmlns="urn:sealpost:sealed:1"/>');
  const children = onlyChildren(el, ['key', 'payload'], 'sealed', maxBlocks + 1);
  const payloads = children.filter((c) => c.name === 'payload');
  const payload = payloads[0];
  if (payloads.length !== 1 || payload === undefined) bad('sealed: exactly one <payload/> required');
  const blocks = children
    .filter((c) => c.name === 'key')
    .map((k, i): KeyBlockWire => {
      const where = `sealed/key[${i}]`;
      const hasDevice = k.attrs.device !== undefined;
      const hasAk = k.attrs.ak !== undefined;
      if (hasDevice === hasAk) bad(`${where}: exactly one of the attributes device and ak`);
      const block: KeyBlockWire = { prekey: uintAttr(k, 'prekey', where), box: k.text() };
      if (hasDevice) block.device = uintAttr(k, 'device', where);
      else {
        const owner = strAttr(k, 'ak', where);
        if (owner !== 'recipient' && owner !== 'sender') bad(`${where}: ak must be recipient or sender`);
        block.ak = owner;
      }
      return block;
    });
  return {
    suite: strAttr(el, 'suite', 'sealed'),
    id: strAttr(el, 'id', 'sealed'),
    from: strAttr(el, 'from', 'sealed'),
    device: uintAttr(el, 'device', 'sealed'),
    to: strAttr(el, 'to', 'sealed'),
    size: uintAttr(el, 'size', 'sealed'),
    blocks,
    payload: payload.text(),
  };
}
