// XML form of key attestations (issue 18, part 2) in urn:sealpost:keys:1, beside a bundle in a
// publish and in each fetched entry: <attestation kind='x509'><cert>DER in base64</cert>...
// </attestation> (leaf first) or <attestation kind='opaque' label='openpgp'>armoured text</...>.
// Counts are bounded before anything is decoded (invariant 5).
import { AppError, ErrorCode } from '../errors/index.js';
import { ATTESTATION_LIMITS, checkAttestations, checkAttestationShape, fromBase64, toBase64, type Attestation } from '../keys/index.js';
import { xml, type Element } from '../xmpp/index.js';
import { NS } from './namespaces.js';

export function attestationToXml(a: Attestation): Element {
  if (a.kind === 'x509') return xml('attestation', { xmlns: NS.keys, kind: 'x509' }, ...a.chain.map((der) => xml('cert', {}, toBase64(der))));
  return xml('attestation', { xmlns: NS.keys, kind: 'opaque', label: a.label }, a.text);
}

/** The <attestation/> children of `parent`, each checked for shape and size, and all together. */
export function attestationsFromXml(parent: Element): Attestation[] {
  const els = parent.getChildren('attestation', NS.keys);
  if (els.length > ATTESTATION_LIMITS.items)
    throw new AppError(ErrorCode.ResourceLimit, `at most ${ATTESTATION_LIMITS.items} attestations, got ${els.length}`);
  return checkAttestations(els.map((el, i): Attestation => {
    const where = `attestation[${i}]`;
    const kind: unknown = el.attrs.kind;
    if (kind === 'x509') {
      const certs = el.getChildElements();
      if (certs.length < 1 || certs.length > ATTESTATION_LIMITS.chainCerts || certs.some((c) => c.name !== 'cert'))
        throw new AppError(ErrorCode.BadInput, `${where}: 1 to ${ATTESTATION_LIMITS.chainCerts} <cert/> children expected`);
      const chain = certs.map((c, j) => {
        const text = c.getText();
        if (text.length > 4 * Math.ceil(ATTESTATION_LIMITS.certBytes / 3))
          throw new AppError(ErrorCode.ResourceLimit, `${where}/cert[${j}]: larger than ${ATTESTATION_LIMITS.certBytes} bytes`);
        return fromBase64(`${where}/cert[${j}]`, text, 1, ATTESTATION_LIMITS.certBytes);
      });
      return checkAttestationShape({ kind, chain }, where);
    }
    if (kind === 'opaque') {
      if (el.getChildElements().length > 0) throw new AppError(ErrorCode.BadInput, `${where}: text only`);
      const label: unknown = el.attrs.label;
      return checkAttestationShape({ kind, label: typeof label === 'string' ? label : '', text: el.getText() }, where);
    }
    throw new AppError(ErrorCode.BadInput, `${where}: kind must be x509 or opaque`);
  }));
}
