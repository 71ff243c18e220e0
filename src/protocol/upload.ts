// XEP-0363 HTTP File Upload slot request and slot (§5 "Requesting a slot", §6 errors), with one
// sealpost child in the request naming the recipient (whose shard and quota the blob goes to) and
// the id of the manifest message the blob belongs to. Shared by the vault and the agent SDK.
import { AppError, ErrorCode } from '../errors/index.js';
import { xml, type Element } from '../xmpp/index.js';
import { NS } from './namespaces.js';
import { strAttr, uintAttr } from './xml-codec.js';

export interface SlotRequest {
  /** Ciphertext bytes that will be uploaded. */
  size: number;
  recipient: string;
  messageId: string;
}

export interface Slot {
  putUrl: string;
  /** The Authorization header the PUT must carry (XEP-0363 §5: headers the client copies). */
  authorization: string;
  getUrl: string;
}

const MAX_URL = 2048;
/** The name the vault sees: the real one travels only in the sealed manifest. */
export const NEUTRAL_FILENAME = 'sealed.bin';

export function slotRequestXml(r: SlotRequest): Element {
  return xml(
    'request',
    { xmlns: NS.upload, filename: NEUTRAL_FILENAME, size: String(r.size), 'content-type': 'application/octet-stream' },
    xml('file', { xmlns: NS.files, recipient: r.recipient, 'message-id': r.messageId }),
  );
}

/** Shapes only; the caller checks the JID, the id and the size against its limits. */
export function parseSlotRequest(el: Element): SlotRequest {
  const size = uintAttr(el, 'size', 'request');
  const file = el.getChild('file', NS.files);
  if (file === undefined) throw new AppError(ErrorCode.BadInput, `request: a <file xmlns='${NS.files}'/> naming the recipient and message id is required`);
  return { size, recipient: strAttr(file, 'recipient', 'file'), messageId: strAttr(file, 'message-id', 'file') };
}

export function slotXml(s: Slot): Element {
  return xml(
    'slot',
    { xmlns: NS.upload },
    xml('put', { url: s.putUrl }, xml('header', { name: 'Authorization' }, s.authorization)),
    xml('get', { url: s.getUrl }),
  );
}

function url(el: Element | undefined, where: string): string {
  const v = el === undefined ? undefined : strAttr(el, 'url', where);
  if (v === undefined || v.length > MAX_URL || !/^https?:\/\//.test(v)) throw new AppError(ErrorCode.BadInput, `slot: ${where} url missing or not http(s)`);
  return v;
}

export function parseSlot(el: Element | undefined): Slot {
  if (el === undefined || el.name !== 'slot' || el.attrs.xmlns !== NS.upload) throw new AppError(ErrorCode.BadInput, 'slot: no <slot/> in the reply');
  const put = el.getChild('put');
  const authorization = put?.getChildren('header').find((h) => h.attrs.name === 'Authorization')?.text() ?? '';
  if (!/^Bearer [A-Za-z0-9_-]{16,128}$/.test(authorization)) throw new AppError(ErrorCode.BadInput, 'slot: PUT authorization header missing');
  return { putUrl: url(put, 'put'), authorization, getUrl: url(el.getChild('get'), 'get') };
}

/** XEP-0030/XEP-0128 extension advertising the service and its max file size (XEP-0363 §4). */
export function uploadDiscoForm(maxFileBytes: number): Element {
  return xml(
    'x',
    { xmlns: NS.dataForms, type: 'result' },
    xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, NS.upload)),
    xml('field', { var: 'max-file-size' }, xml('value', {}, String(maxFileBytes))),
  );
}
