// Runs an IQ handler body and turns any failure into an RFC 6120 stanza error reply (via the one
// AppError → condition table), logging the code and never the stanza.
import { AppError } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import { stanzaError, type Element } from '../xmpp/index.js';
import { toStanzaError } from './stanza-errors.js';

export async function answerIq(
  log: Logger,
  what: string,
  body: () => Element | true | Promise<Element | true>,
): Promise<Element | true> {
  try {
    return await body();
  } catch (err) {
    const spec = toStanzaError(err);
    if (AppError.is(err)) log.info({ iq: what, code: err.code, condition: spec.condition }, 'iq refused');
    else log.error({ iq: what, err }, 'iq failed');
    return stanzaError(spec.type, spec.condition, spec.text);
  }
}
