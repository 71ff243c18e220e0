// The agent's side of the key directory (issue "Key directory over XMPP"): publish this device's
// bundle (fresh one-time prekeys each time, erasing the ones the directory dropped unclaimed),
// fetch a contact's bundles and verify them — every signature, the directory's countersignature
// under the pinned server key, and the agent's own trust store — before anything is sealed to them.
import { AppError, ErrorCode } from '../errors/index.js';
import {
  addOneTimePrekeys,
  checkTrust,
  constantTimeEqual,
  consumeOneTimePrekey,
  DEFAULT_WINDOW,
  displayFingerprint,
  expireClaimedOpks,
  markClaimedOpks,
  decodeBundle,
  fromBase64,
  publicBundle,
  bundleToWire,
  verifyCountersign,
  type AgentKeyState,
  type Attestation,
  type KeyRing,
  type NewDevicePolicy,
  type TrustDecision,
  type TrustStore,
  type VerifiedBundle,
} from '../keys/index.js';
import { attestationsFromXml, attestationToXml, bundleFromXml, bundleToXml, NS, strAttr, uintAttr } from '../protocol/index.js';
import { xml, type Element } from '../xmpp/index.js';
import { judgeAttestations, requireAttested, type AttestationPolicy, type AttestationVerdict, type AttestationView } from './attestations.js';
import type { VaultLink } from './vault-link.js';

/** The directory's server key is pinned in the trust store as if it were device 1 of the vault's JID. */
const SERVER_KEY_DEVICE = 1;

export interface DirectoryClientOptions {
  link: VaultLink;
  keyring: KeyRing;
  trust: TrustStore;
  /** One-time prekeys kept published (default 100). */
  target?: number;
  maxOpks?: number;
  /**
   * One-time prekey secrets this device holds at most, published and claimed-but-unused together
   * (default 1,000): past it a replenish publishes fewer (senders fall back to the signed prekey)
   * instead of growing the key file toward what it can hold (issue 14, attack 2).
   */
  maxHeldOpks?: number;
  now?: () => number;
  /** This device's attestations, published with its bundle. */
  ownAttestations?: () => readonly Attestation[];
  /** How contacts' attestations are judged; without it, none makes a key verified. */
  attestationPolicy?: AttestationPolicy;
  /** A new device of a known contact: pinned with trust 'new-device' (default) or refused until accepted. */
  newDevices?: NewDevicePolicy;
}

export interface FetchedBundle {
  bundle: VerifiedBundle;
  firstSeen: number;
  /** 'verified' also when an attestation from a trusted CA checks out (`attestation` says which). */
  trust: TrustDecision;
  attestation?: { subject: string; issuer: string };
  attestations: AttestationView[];
}

/** A contact's published device as listed (nothing claimed), with its trust and attestations. */
export interface ContactDevice {
  device: number;
  fingerprint: string;
  firstSeen: number;
  /** This agent's trust store: 'unknown' when never pinned, 'changed' when the key differs from the pinned one. */
  pinned: 'unknown' | 'tofu' | 'verified' | 'changed';
  attestation: { subject: string; issuer: string } | undefined;
  attestations: AttestationView[];
}

function child(el: Element | undefined, name: string): Element {
  if (el?.name !== name || el.getNS() !== NS.keys)
    throw new AppError(ErrorCode.BadInput, `the vault answered without <${name}/>`);
  return el;
}

export class DirectoryClient {
  private readonly now: () => number;
  private readonly target: number;
  private readonly maxOpks: number;
  private readonly maxHeldOpks: number;
  private publishing: Promise<void> | undefined;

  constructor(private readonly options: DirectoryClientOptions) {
    this.now = options.now ?? Date.now;
    this.target = options.target ?? 100;
    this.maxOpks = options.maxOpks ?? 100;
    this.maxHeldOpks = options.maxHeldOpks ?? 1000;
  }

  /**
   * Erases the secrets of one-time prekeys claimed and never used for longer than the accepted
   * message window plus a day: whatever was sealed to them is refused as too old by now.
   */
  async expireClaimed(): Promise<void> {
    const before = this.now() - DEFAULT_WINDOW.maxAgeMs - 86_400_000;
    if (this.state.oneTimePrekeys.some((p) => p.claimedBy !== undefined && p.claimedBy < before))
      await this.options.keyring.update((s) => expireClaimedOpks(s, before));
  }

  private get state(): AgentKeyState {
    return this.options.keyring.state;
  }

  /** Pins the directory's server key on first use; a different key later is refused. */
  private async checkServerKey(b64: string): Promise<Uint8Array> {
    const key = fromBase64('server-key', b64, 32);
    await this.options.trust.pin(this.options.link.bare, SERVER_KEY_DEVICE, key, this.now());
    return key;
  }

  /**
   * Publishes this device's bundle. `fresh`: generate new one-time prekeys (the default once the
   * first upload is done); the directory drops the unclaimed old ones and we erase their secrets.
   */
  publish(options: { fresh?: boolean } = {}): Promise<void> {
    this.publishing ??= this.doPublish(options.fresh).finally(() => (this.publishing = undefined));
    return this.publishing;
  }

  private async doPublish(fresh: boolean | undefined): Promise<void> {
    const keyring = this.options.keyring;
    let opks = keyring.state.oneTimePrekeys.filter((p) => p.claimedBy === undefined).map(({ id, publicKey, signature }) => ({ id, publicKey, signature }));
    const first = fresh === false || (fresh === undefined && (await this.count()) === undefined);
    const firstNew = keyring.state.nextPrekeyId;
    if (!first) {
      await this.expireClaimed();
      let added: typeof opks = [];
      await keyring.update((s) => {
        const r = addOneTimePrekeys(s, Math.min(this.target, Math.max(0, this.maxHeldOpks - s.oneTimePrekeys.length)));
        added = r.added;
        return r.state;
      });
      opks = added;
    }
    const bundle = { ...publicBundle(keyring.state, this.maxOpks), oneTimePrekeys: opks.slice(0, this.maxOpks) };
    const own = (this.options.ownAttestations?.() ?? []).map(attestationToXml);
    const reply = child(await this.options.link.iq('set', xml('publish', { xmlns: NS.keys }, bundleToXml(bundleToWire(bundle)), ...own)), 'published');
    const serverKey = await this.checkServerKey(strAttr(reply, 'server-key', 'published'));
    const firstSeen = uintAttr(reply, 'first-seen', 'published');
    const countersig = fromBase64('countersig', reply.attrs.countersig, 64);
    const me = this.state.identity;
    if (!verifyCountersign({ jid: me.jid, device: me.device, identityKey: me.publicKey, firstSeen }, countersig, serverKey))
      throw new AppError(ErrorCode.BadSignature, 'the directory countersignature on our own bundle does not verify');
    const dropped = reply.getChildren('dropped').map((d) => uintAttr(d, 'id', 'dropped'));
    const publishedAt = this.now();
    await keyring.update((s) => {
      const kept = dropped.reduce((acc, id) => consumeOneTimePrekey(acc, id), s);
      return first ? kept : markClaimedOpks(kept, firstNew, publishedAt);
    });
  }

  /** One-time prekeys the directory still holds for this device; undefined when unpublished. */
  async count(): Promise<number | undefined> {
    try {
      const reply = await this.options.link.iq('get', xml('count', { xmlns: NS.keys, device: String(this.state.identity.device) }));
      return uintAttr(child(reply, 'count'), 'remaining', 'count');
    } catch (err) {
      if (AppError.is(err, ErrorCode.NotFound)) return undefined;
      throw err;
    }
  }

  /** Claims and verifies the bundles of every device of `jid`. */
  async fetch(jid: string): Promise<FetchedBundle[]> {
    const reply = child(
      await this.options.link.iq('set', xml('fetch', { xmlns: NS.keys, jid })).catch((err: unknown) => {
        throw AppError.is(err, ErrorCode.NotFound) ? unpublished(jid) : err;
      }),
      'bundles',
    );
    const serverKey = await this.checkServerKey(strAttr(reply, 'server-key', 'bundles'));
    const now = this.now();
    const out: FetchedBundle[] = [];
    for (const entry of reply.getChildren('entry')) {
      const el = entry.getChild('bundle', NS.keys);
      if (el === undefined) throw new AppError(ErrorCode.BadInput, 'bundles: entry without <bundle/>');
      const bundle = decodeBundle(bundleFromXml(el, this.maxOpks), { expectJid: jid, now, maxOpks: 1 });
      const firstSeen = uintAttr(entry, 'first-seen', 'entry');
      const countersig = fromBase64('countersig', entry.attrs.countersig, 64);
      if (!verifyCountersign({ jid, device: bundle.device, identityKey: bundle.identityKey, firstSeen }, countersig, serverKey))
        throw new AppError(ErrorCode.BadSignature, `${jid} device ${bundle.device}: the directory's countersignature does not verify`);
      const verdict = this.judge(entry, jid, bundle.identityKey, now);
      requireAttested(this.options.attestationPolicy, verdict, jid, bundle.device);
      const trust = await checkTrust(this.options.trust, jid, bundle.device, bundle.identityKey, now, true, this.options.newDevices);
      if (trust === 'new' || trust === 'new-device') await this.options.trust.pin(jid, bundle.device, bundle.identityKey, now);
      const attested = verdict.verified === undefined ? {} : { attestation: verdict.verified };
      out.push({ bundle, firstSeen, trust: verdict.verified === undefined ? trust : 'verified', ...attested, attestations: verdict.items });
    }
    if (out.length === 0) throw unpublished(jid);
    return out;
  }

  private judge(parent: Element, jid: string, identityKey: Uint8Array, now: number): AttestationVerdict {
    return judgeAttestations(attestationsFromXml(parent), { jid, identityKey, trustedCas: this.options.attestationPolicy?.trustedCas ?? [], now });
  }

  /**
   * A message sender's standing by attestation (issue 18): its attestation from a trusted CA (from
   * a device listing, cached 10 minutes per key; claims nothing), undefined without one; refused
   * (untrusted-key, so the copy waits at the vault) when the policy requires one. No trusted CA:
   * no lookup.
   */
  async senderAttestation(jid: string, device: number, fingerprint: string): Promise<{ subject: string; issuer: string } | undefined> {
    const policy = this.options.attestationPolicy;
    if (policy === undefined || (policy.trustedCas.length === 0 && !policy.require)) return undefined;
    const key = `${jid} ${device} ${fingerprint}`;
    let hit = this.verdicts.get(key);
    if (hit === undefined || this.now() - hit.at > 600_000) {
      const found = (await this.devices(jid)).find((d) => d.device === device && d.fingerprint === fingerprint);
      if (this.verdicts.size >= 1024) this.verdicts.clear();
      hit = { at: this.now(), verdict: found === undefined ? { verified: undefined, items: [] } : { verified: found.attestation, items: found.attestations } };
      this.verdicts.set(key, hit);
    }
    requireAttested(policy, hit.verdict, jid, device);
    return hit.verdict.verified;
  }

  private readonly verdicts = new Map<string, { at: number; verdict: AttestationVerdict }>();

  /**
   * A sender key never seen before must be the one the directory countersigned for that device
   * (issue 14, attack 4): else UntrustedKey (not acknowledged; it opens once the key is published).
   */
  async vouch(jid: string, device: number, identityKey: Uint8Array): Promise<void> {
    const listed = (await this.devices(jid)).find((d) => d.device === device);
    const fp = displayFingerprint(identityKey);
    if (listed?.fingerprint !== fp)
      throw new AppError(
        ErrorCode.UntrustedKey,
        `${jid} device ${device} (${fp}): ${listed === undefined ? 'not in the directory' : 'not the key the directory countersigned'}`,
      );
  }

  /** Lists every published device of `jid` with its trust and attestations; claims no prekey, pins nothing. */
  async devices(jid: string): Promise<ContactDevice[]> {
    const reply = child(await this.options.link.iq('get', xml('devices', { xmlns: NS.keys, jid })), 'devices');
    const serverKey = await this.checkServerKey(strAttr(reply, 'server-key', 'devices'));
    const now = this.now();
    const out: ContactDevice[] = [];
    for (const el of reply.getChildren('device')) {
      const device = uintAttr(el, 'id', 'device');
      const identityKey = fromBase64('device ik', el.attrs.ik, 32);
      const firstSeen = uintAttr(el, 'first-seen', 'device');
      const countersig = fromBase64('countersig', el.attrs.countersig, 64);
      if (!verifyCountersign({ jid, device, identityKey, firstSeen }, countersig, serverKey))
        throw new AppError(ErrorCode.BadSignature, `${jid} device ${device}: the directory's countersignature does not verify`);
      const rec = await this.options.trust.get(jid, device);
      const pinned = rec === undefined ? 'unknown' : constantTimeEqual(rec.identityKey, identityKey) ? rec.level : 'changed';
      const verdict = this.judge(el, jid, identityKey, now);
      out.push({ device, fingerprint: displayFingerprint(identityKey), firstSeen, pinned, attestation: verdict.verified, attestations: verdict.items });
    }
    return out;
  }
}

/** The first thing a new user meets when the recipient never started: say how to fix it. */
function unpublished(jid: string): AppError {
  return new AppError(
    ErrorCode.NotFound,
    `${jid} has no published devices: its keys are published by \`sealpost keys init\` (or \`keys publish\`) or when its agent first starts`,
  );
}
