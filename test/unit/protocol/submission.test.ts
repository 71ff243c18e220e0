// Answers to a submission as the SDK reads them (src/protocol/submission.ts): a receipt names the
// committed items (one, or a batch's <stored/> list), a refusal by the vault carries <rejected/>
// and maps back to its AppError code, a wait is not final, and a bounce by the XMPP server (no
// <rejected/>) is not the vault's answer. Anything else is not a reply at all.
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../src/errors/index.js';
import { batchStanzaId, NS, parseSubmissionReply, refusalStanza, storedReceiptsStanza, submissionStanza } from '../../../src/protocol/index.js';
import { AppError } from '../../../src/errors/index.js';
import { stanzaError, xml } from '../../../src/xmpp/index.js';

describe('submission replies', () => {
  it('reads the receipt of one item and of a batch', () => {
    expect(parseSubmissionReply(storedReceiptsStanza('alice@example.org/a', 'm1', ['m1']))).toEqual({ kind: 'stored', ids: ['m1'] });
    const batch = storedReceiptsStanza('alice@example.org/a', batchStanzaId('m1'), ['m1', 'm2', 'm3']);
    expect(parseSubmissionReply(batch)).toEqual({ kind: 'stored', ids: ['m1', 'm2', 'm3'] });
  });

  it('reads a refusal by the vault as its AppError, and a wait as not final', () => {
    const refused = parseSubmissionReply(refusalStanza('alice@example.org/a', 'm1', 'm1', new AppError(ErrorCode.BadSignature, 'bad sig')));
    expect(refused?.kind).toBe('refused');
    if (refused?.kind !== 'refused') throw new Error('unreachable');
    expect(refused.id).toBe('m1');
    expect(refused.error.code).toBe(ErrorCode.BadSignature);
    expect(refused.error.message).toContain('bad sig');
    const wait = parseSubmissionReply(refusalStanza('alice@example.org/a', 'm2', 'm2', new AppError(ErrorCode.ResourceLimit, 'quota')));
    expect(wait).toMatchObject({ kind: 'wait', id: 'm2', condition: 'resource-constraint' });
    expect(wait?.kind === 'wait' && wait.error.code).toBe(ErrorCode.ResourceLimit);
    expect(wait?.kind === 'wait' && wait.error.message).toBe('resource-constraint: quota');
  });

  it('tells a bounce by the XMPP server (no <rejected/>) from a refusal', () => {
    const bounce = xml('message', { type: 'error', id: 'm3' }, stanzaError('cancel', 'service-unavailable'));
    expect(parseSubmissionReply(bounce)).toEqual({ kind: 'bounced', id: 'm3', condition: 'service-unavailable' });
  });

  it('takes nothing else for a reply', () => {
    expect(parseSubmissionReply(xml('message', {}, xml('received', { xmlns: NS.receipts })))).toBeUndefined();
    expect(parseSubmissionReply(xml('message', { type: 'error' }, stanzaError('cancel', 'item-not-found')))).toBeUndefined();
    expect(parseSubmissionReply(xml('message', { type: 'error', id: 'x' }))).toBeUndefined();
    expect(parseSubmissionReply(xml('presence', {}, xml('received', { xmlns: NS.receipts, id: 'm1' })))).toBeUndefined();
    expect(parseSubmissionReply(xml('message', { id: 'm1' }, xml('body', {}, 'hi')))).toBeUndefined();
  });

  it('builds one submission form for a single item and a batch', () => {
    const sealed = [xml('sealed', { xmlns: NS.sealed, id: 'm1' }), xml('sealed', { xmlns: NS.sealed, id: 'm2' })];
    const st = submissionStanza('vault@example.org', batchStanzaId('m1'), sealed);
    expect(st.attrs).toEqual({ to: 'vault@example.org', id: 'b-m1', type: 'normal' });
    expect(st.getChildren('sealed', NS.sealed)).toHaveLength(2);
    expect(st.getChild('request', NS.receipts)).toBeDefined();
    expect(st.getChild('no-permanent-store', NS.hints)).toBeDefined();
  });
});
