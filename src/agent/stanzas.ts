// Protected stanzas for the application (issue 18, part 3): `sendStanza` seals an XML element as
// a message of its own content type; on arrival the receiver has checked it like any message and
// then its bounds and claims (open-delivery.ts), and this router hands it to `onStanza` with the
// sender's verified identity, other messages to `onMessage`.
import { AppError, ErrorCode } from '../errors/index.js';
import type { TrustDecision } from '../keys/index.js';
import type { Element } from '../xmpp/index.js';
import type { MessageHandler, ReceivedMessage } from './receiver.js';

/** A protected stanza as the application sees it. */
export interface ReceivedStanza {
  /** The element as sealed, checked: bounded, and no stanza in it claims another sender. */
  readonly element: Element;
  readonly messageId: string;
  /** Sender bare JID, from the signed header (not from the element). */
  readonly from: string;
  readonly device: number;
  readonly fingerprint: string;
  readonly trust: TrustDecision;
  readonly sentAt: number;
  readonly storedAt: number | undefined;
  readonly attestation?: { subject: string; issuer: string };
}

/** Resolve to acknowledge; throw (or reject) to have the stanza delivered again later. */
export type StanzaHandler = (stanza: ReceivedStanza) => void | Promise<void>;

/** One handler for the receiver that sends stanzas to `stanza` (else `message`) and the rest to `message`. */
export function stanzaRouter(): { message?: MessageHandler; stanza?: StanzaHandler; dispatch: MessageHandler } {
  const router: { message?: MessageHandler; stanza?: StanzaHandler; dispatch: MessageHandler } = {
    dispatch: (m: ReceivedMessage) => {
      const { stanza: element } = m;
      if (element !== undefined && router.stanza !== undefined)
        return router.stanza({
          element,
          messageId: m.messageId,
          from: m.from,
          device: m.device,
          fingerprint: m.fingerprint,
          trust: m.trust,
          sentAt: m.sentAt,
          storedAt: m.storedAt,
          ...(m.attestation === undefined ? {} : { attestation: m.attestation }),
        });
      if (router.message !== undefined) return router.message(m);
      // Not acknowledged: it waits at the vault until the application takes such messages.
      throw new AppError(ErrorCode.Unavailable, `no handler for a message of ${m.contentType}`);
    },
  };
  return router;
}
