// Our own byte bound per stanza, before the XML parser sees it (issue 14, attack 5). The XMPP
// server's limit is not ours to rely on (ejabberd's default is unlimited), and xmpp.js's parser
// (ltx) buffers a stanza whole, copying its pending text again on every socket chunk: a large
// stanza cost quadratic time on the event loop every connection shares. This framer scans the
// raw bytes for element boundaries (RFC 6120 §4.1: stanzas are the first-level children of the
// stream; with WebSocket framing, RFC 7395, each top-level element), holds at most `maxBytes` of
// the element in progress, and hands the parser each element whole, in one write (linear time).
// An element past `maxBytes` is never parsed: its bytes are counted and dropped as they come, and
// its place in the output says so, in order, with its start tag (when that tag itself fitted).
// The scanner knows the lexical structure of well-formed XML only (tags, quoted attribute values,
// CDATA, comments, processing instructions); malformed input still reaches the parser's own checks.
import type { Logger } from '../log/index.js';
import { stanzaError } from './stanza-error.js';
import { parseXml, xml, type Element } from './xml.js';

const LT = 0x3c;
const GT = 0x3e;
const SLASH = 0x2f;
const BANG = 0x21;
const QMARK = 0x3f;
const SQUOTE = 0x27;
const DQUOTE = 0x22;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const DASH = 0x2d;

/** Lexical states between bytes. */
const enum S {
  Text,
  /** Just after '<'. */
  Open,
  Start,
  Quote,
  End,
  /** Just after '<!'. */
  Bang,
  Cdata,
  Comment,
  Other,
  Pi,
}

export interface OversizeInfo {
  /** The dropped element's start tag as text (`<iq ... >`), when it fitted within the bound. */
  startTag: string | undefined;
  /** Bytes the element had when it was dropped (at least maxBytes + 1). */
  bytes: number;
}

/**
 * In order: text for the parser (`bytes` set for a whole top-level element, its size on the
 * wire), or an element dropped unread (`dropped`, and `text` empty).
 */
export interface Piece {
  text: string;
  bytes?: number;
  dropped?: OversizeInfo;
}

export class StanzaFramer {
  private s = S.Text;
  private depth = 0;
  private quote = 0;
  private slash = false;
  /** Progress through a multi-byte terminator (']]>', '-->', '?>'). */
  private run = 0;
  /** The top-level element in progress: held bytes (unless dropping), its size, its start tag. */
  private inUnit = false;
  private held: Buffer[] = [];
  private unitBytes = 0;
  private dropping = false;
  private startTag: string | undefined;
  private startTagDone = false;

  /**
   * @param maxBytes most bytes of one top-level element
   * @param level depth of a top-level element: 2 inside a TCP stream's root, 1 with WebSocket framing
   */
  constructor(
    readonly maxBytes: number,
    private readonly level: number,
  ) {
    if (!Number.isInteger(maxBytes) || maxBytes < 1) throw new RangeError('stanza bound: maxBytes must be a positive integer');
  }

  /** A new stream (after STARTTLS or SASL): the scanner starts over. */
  reset(): void {
    this.s = S.Text;
    this.depth = 0;
    this.run = 0;
    this.endUnit();
  }

  /**
   * Splits `chunk` into text for the parser, in order: bytes outside elements (`bytes` undefined),
   * and whole top-level elements with their size on the wire.
   */
  push(input: Buffer | string): Piece[] {
    const chunk = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
    const out: Piece[] = [];
    let from = 0; // first byte of this chunk not yet handed on or dropped
    const n = chunk.length;
    for (let i = 0; i < n; i++) {
      if (this.s === S.Text) {
        const lt = chunk.indexOf(LT, i);
        if (lt === -1) break;
        i = lt;
        if (this.depth === this.level - 1 && !this.inUnit) {
          if (lt > from) out.push({ text: chunk.toString('utf8', from, lt) });
          from = lt;
          this.inUnit = true;
        }
        this.s = S.Open;
        continue;
      }
      if (this.s === S.Quote) {
        const q = chunk.indexOf(this.quote, i);
        if (q === -1) break;
        i = q;
        this.s = S.Start;
        continue;
      }
      const c = chunk[i]!;
      switch (this.s) {
        case S.Open:
          this.s = c === SLASH ? S.End : c === BANG ? S.Bang : c === QMARK ? S.Pi : S.Start;
          this.slash = false;
          this.run = 0;
          break;
        case S.Start:
          if (c === SQUOTE || c === DQUOTE) {
            this.quote = c;
            this.s = S.Quote;
          } else if (c === GT) {
            if (!this.slash) this.depth++;
            this.s = S.Text;
            if (this.inUnit && !this.startTagDone) this.noteStartTag(chunk, from, i);
            from = this.closeConstruct(chunk, from, i, out);
          } else if (c > 0x20) this.slash = c === SLASH;
          break;
        case S.End:
          if (c === GT) {
            this.depth--;
            this.s = S.Text;
            from = this.closeConstruct(chunk, from, i, out);
          }
          break;
        case S.Bang:
          this.s = c === LBRACKET ? S.Cdata : c === DASH ? S.Comment : S.Other;
          break;
        case S.Cdata:
          this.run = c === RBRACKET ? Math.min(this.run + 1, 2) : c === GT && this.run === 2 ? 3 : 0;
          if (this.run === 3) this.endSpecial(chunk, from, i, out, (f) => (from = f));
          break;
        case S.Comment:
          this.run = c === DASH ? Math.min(this.run + 1, 2) : c === GT && this.run === 2 ? 3 : 0;
          if (this.run === 3) this.endSpecial(chunk, from, i, out, (f) => (from = f));
          break;
        case S.Pi:
          this.run = c === QMARK ? 1 : c === GT && this.run === 1 ? 2 : 0;
          if (this.run === 2) this.endSpecial(chunk, from, i, out, (f) => (from = f));
          break;
        case S.Other:
          if (c === GT) this.endSpecial(chunk, from, i, out, (f) => (from = f));
          break;
      }
    }
    if (from < n) {
      if (!this.inUnit) out.push({ text: chunk.toString('utf8', from, n) });
      else this.hold(chunk.subarray(from, n));
    }
    return out;
  }

  private endSpecial(chunk: Buffer, from: number, i: number, out: Piece[], set: (from: number) => void): void {
    this.s = S.Text;
    set(this.closeConstruct(chunk, from, i, out));
  }

  /** After a tag or other construct ends at `i`: if that ends the element in progress, hand it on. */
  private closeConstruct(chunk: Buffer, from: number, i: number, out: Piece[]): number {
    if (!this.inUnit) return from;
    if (this.depth > this.level - 1) {
      // Still inside: count what came so far, so an endless element is dropped as it grows.
      this.hold(chunk.subarray(from, i + 1));
      return i + 1;
    }
    this.hold(chunk.subarray(from, i + 1));
    if (this.dropping) out.push({ text: '', dropped: { startTag: this.startTag, bytes: this.unitBytes } });
    else out.push({ text: Buffer.concat(this.held, this.unitBytes).toString('utf8'), bytes: this.unitBytes });
    this.endUnit();
    return i + 1;
  }

  private noteStartTag(chunk: Buffer, from: number, i: number): void {
    this.startTagDone = true;
    if (this.dropping) return;
    this.startTag = Buffer.concat([...this.held, chunk.subarray(from, i + 1)]).toString('utf8');
  }

  private hold(part: Buffer): void {
    this.unitBytes += part.length;
    if (this.dropping) return;
    if (this.unitBytes > this.maxBytes) {
      this.dropping = true;
      this.held = [];
      return;
    }
    this.held.push(part);
  }

  private endUnit(): void {
    this.inUnit = false;
    this.held = [];
    this.unitBytes = 0;
    this.dropping = false;
    this.startTag = undefined;
    this.startTagDone = false;
  }
}

/**
 * What to do with a dropped element: whether it was a stanza (XEP-0198 counts it as handled), and
 * the error to send back (RFC 6120 §8.3.3.13 policy-violation) for an IQ request or a message,
 * which RFC 6120 wants answered; never for an error, a result or a presence.
 */
export function oversizeAnswer(info: OversizeInfo, maxBytes: number): { stanza: boolean; name: string | undefined; reply: Element | undefined } {
  let el: Element | undefined;
  try {
    el = info.startTag === undefined ? undefined : parseXml(info.startTag.replace(/>$/, '/>'));
  } catch {
    el = undefined;
  }
  const name = el?.name;
  const stanza = name === 'iq' || name === 'message' || name === 'presence';
  const { from, id, type } = el?.attrs ?? {};
  const request = name === 'iq' ? type === 'get' || type === 'set' : name === 'message' && type !== 'error';
  const reply =
    request && typeof from === 'string' && name !== undefined
      ? xml(
          name,
          { to: from, type: 'error', ...(typeof id === 'string' ? { id } : {}) },
          stanzaError('modify', 'policy-violation', `stanza of more than ${maxBytes} bytes: dropped unread`),
        )
      : undefined;
  return { stanza, name, reply };
}

/** The parts of an xmpp.js 0.14 connection (@xmpp/connection) that frameInput replaces or uses. */
interface XmppJsConnection {
  _onData(data: Buffer): void;
  _attachParser(parser: unknown): void;
  parser: { write(text: string): void } | null;
  send(stanza: Element): Promise<void>;
  streamManagement: unknown;
}

/**
 * Puts the framer between an xmpp.js connection's socket and its parser: each chunk is framed,
 * whole elements are written to the parser, a dropped stanza is counted as handled for XEP-0198
 * and answered (oversizeAnswer); a new stream (after STARTTLS or SASL) starts the framer over.
 * xmpp.js sets its parser to null once a stream is closed; chunks arriving after that (the server
 * still flushing to us after a close that timed out) threw in the socket's 'data' handler, an
 * uncaught exception seen in the fault tests: they belong to a closed stream and are dropped.
 */
export function frameInput(entity: unknown, o: { maxBytes: number; level: number; logger: Logger }): void {
  const raw = entity as XmppJsConnection;
  const framer = new StanzaFramer(o.maxBytes, o.level);
  const dropped = (info: OversizeInfo): void => {
    const { stanza, name, reply } = oversizeAnswer(info, o.maxBytes);
    const sm = raw.streamManagement as { enabled: boolean; inbound: number };
    if (stanza && sm.enabled) sm.inbound += 1;
    o.logger.warn({ bytes: info.bytes, name, limit: o.maxBytes }, 'xmpp: stanza over our bound dropped unread');
    if (reply !== undefined) raw.send(reply).catch(() => undefined);
  };
  const attach = raw._attachParser.bind(raw);
  raw._attachParser = (parser) => {
    framer.reset();
    attach(parser);
  };
  raw._onData = (data) => {
    for (const piece of framer.push(data))
      if (piece.dropped !== undefined) dropped(piece.dropped);
      else raw.parser?.write(piece.text);
  };
}
