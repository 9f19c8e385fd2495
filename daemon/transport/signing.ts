/**
 * Operator signatures on what the recognizer sends (docs/protocol.md, "Signatures"): replies, region packs, errors
 * and the retained announcement. A device that pins the operator's Ed25519 public key accepts nothing else, so whoever
 * can publish on the broker (a device with stolen fleet credentials, the broker's operator) cannot forge an answer or
 * poison the region pack that decoys are drawn from.
 *
 * A signed payload is a CBOR map wrapping the unchanged message bytes:
 *   { v: 1, t: 's', k: key id (8 bytes), b: message (bytes), sg: Ed25519 signature (64 bytes) }
 * The signature covers SIGNATURE_CONTEXT ‖ len(cd) ‖ cd ‖ b, where cd is the correlation data sent as an MQTT v5
 * property (empty on the announcement and in 3.1.1 mode, where the correlation data is inside b already). Binding the
 * request's random correlation data means a signed answer cannot be replayed to answer another request.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { Decoder, Encoder } from 'cbor-x';
import { PROTOCOL_VERSION } from './messages.js';
import { checkCborStructure, WIRE_BOUNDS } from './codec.js';

/** Domain separation: these signatures can never be mistaken for signatures over anything else. */
const SIGNATURE_CONTEXT = Buffer.from('enfpire/v1 signed message\0', 'ascii');
export const SIGNED_TYPE_CODE = 's';
export const KEY_ID_BYTES = 8;
const SIGNATURE_BYTES = 64;
/** What the wrapper adds to a message: map header, five short keys, three byte-string headers, id and signature. */
export const SIGNATURE_OVERHEAD = 100;

const encoder = new Encoder({ useRecords: false, tagUint8Array: false, variableMapSize: true, pack: false });
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true });

/** A payload that is not signed, or not by a pinned key, or whose signature does not verify. One-line reason. */
export class SignatureError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SignatureError';
  }
}

/** The 8-byte id of a public key: the start of SHA-256 over its SPKI DER encoding, shown in hex to operators. */
export function keyIdOf(publicKey: KeyObject): Buffer {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest().subarray(0, KEY_ID_BYTES);
}

function signedBytes(message: Uint8Array, correlationData: Uint8Array | undefined): Buffer {
  const cd = correlationData ?? new Uint8Array(0);
  if (cd.length > WIRE_BOUNDS.maxCorrelationBytes) throw new SignatureError(`correlation data of ${cd.length} bytes cannot be signed`);
  return Buffer.concat([SIGNATURE_CONTEXT, Buffer.of(cd.length), cd, message]);
}

function ed25519Key(key: KeyObject, type: 'private' | 'public', source: string): KeyObject {
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new SignatureError(`${source} holds a ${key.asymmetricKeyType ?? 'symmetric'} key, expected an Ed25519 ${type} key (make one with \`enfpire keygen\`)`);
  }
  return key;
}

/** Signs outgoing payloads with the operator's private key (the recognizer's side). */
export class PayloadSigner {
  readonly keyId: Buffer;
  private readonly key: KeyObject;

  /** `pem`: a PKCS#8 Ed25519 private key as written by `enfpire keygen`; `source` names it in errors. */
  constructor(pem: string | Buffer, source = 'the signing key') {
    let key: KeyObject;
    try {
      key = createPrivateKey(pem);
    } catch (err) {
      throw new SignatureError(`${source} is not a PEM private key (${(err as Error).message.split('\n')[0]})`);
    }
    this.key = ed25519Key(key, 'private', source);
    this.keyId = keyIdOf(createPublicKey(this.key));
  }

  /** The signed wrapper around `message`; `correlationData` is the MQTT v5 property the answer will carry, if any. */
  wrap(message: Uint8Array, correlationData?: Uint8Array): Buffer {
    const sg = sign(null, signedBytes(message, correlationData), this.key);
    return encoder.encode({ v: PROTOCOL_VERSION, t: SIGNED_TYPE_CODE, k: this.keyId, b: message, sg });
  }
}

/** Whether a payload is a signed wrapper (cheap: looks only at the decoded top level). */
function unwrapFields(payload: Uint8Array, maxBytes: number): { k: Uint8Array; b: Uint8Array; sg: Uint8Array } | undefined {
  if (payload.length > maxBytes + SIGNATURE_OVERHEAD) return undefined;
  let raw: unknown;
  try {
    // A wrapper is one flat map of a few fields. Checked before cbor-x parses anything: it would otherwise build
    // whatever an unsigned payload holds (a bignum tag in quadratic time, millions of empty maps) before decodeRouted
    // could refuse it.
    checkCborStructure(payload, { items: 32, mapEntries: 15, nesting: 1 });
    raw = decoder.decode(payload);
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const o = raw as Record<string, unknown>;
  if (o.v !== PROTOCOL_VERSION || o.t !== SIGNED_TYPE_CODE) return undefined;
  const { k, b, sg } = o;
  if (!(k instanceof Uint8Array && b instanceof Uint8Array && sg instanceof Uint8Array)) {
    throw new SignatureError('signed payload lacks its key id, message or signature bytes');
  }
  if (k.length !== KEY_ID_BYTES || sg.length !== SIGNATURE_BYTES) {
    throw new SignatureError(`signed payload has a ${k.length}-byte key id and a ${sg.length}-byte signature, expected ${KEY_ID_BYTES} and ${SIGNATURE_BYTES}`);
  }
  if (b.length > maxBytes) throw new SignatureError(`signed message has ${b.length} bytes, at most ${maxBytes} allowed`);
  return { k, b, sg };
}

/**
 * The operator keys a device pins (the device's side). `open()` returns the message inside a payload signed by one
 * of them and throws SignatureError for anything else; an empty set means "not pinned": signed payloads are unwrapped
 * unchecked and unsigned ones pass, for profiles that set transport.allowUnsigned or talk to a broker on this host.
 */
export class TrustedKeys {
  private readonly keys = new Map<string, KeyObject>();

  /** Every PEM public key in `pem` (one file may hold several, for a key rollover). */
  static fromPem(pem: string | Buffer, source = 'the recognizer key file'): TrustedKeys {
    const blocks = pem.toString().match(/-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/g) ?? [];
    if (blocks.length === 0) throw new SignatureError(`${source} holds no PEM public key (-----BEGIN PUBLIC KEY-----); copy the .pub file \`enfpire keygen\` wrote`);
    const trusted = new TrustedKeys();
    for (const block of blocks) {
      let key: KeyObject;
      try {
        key = createPublicKey(block);
      } catch (err) {
        throw new SignatureError(`${source} holds a public key that cannot be read (${(err as Error).message.split('\n')[0]})`);
      }
      trusted.add(ed25519Key(key, 'public', source));
    }
    return trusted;
  }

  add(key: KeyObject): void {
    this.keys.set(keyIdOf(key).toString('hex'), key);
  }

  get pinned(): boolean {
    return this.keys.size > 0;
  }

  /** Hex ids of the pinned keys, for logs and the operator's page. */
  ids(): string[] {
    return [...this.keys.keys()];
  }

  /**
   * The message inside `payload`. With pinned keys: SignatureError unless it is signed by one of them over this
   * correlation data. Without: the message, signed or not (signatures unchecked).
   */
  open(payload: Uint8Array, correlationData: Uint8Array | undefined, maxBytes: number): Uint8Array {
    const wrapped = unwrapFields(payload, maxBytes);
    if (!this.pinned) return wrapped ? wrapped.b : payload;
    if (!wrapped) throw new SignatureError('payload is not signed');
    const id = Buffer.from(wrapped.k).toString('hex');
    const key = this.keys.get(id);
    if (!key) throw new SignatureError(`payload is signed by key ${id}, which this device does not trust`);
    let ok = false;
    try {
      ok = verify(null, signedBytes(wrapped.b, correlationData), key, wrapped.sg);
    } catch {
      ok = false;
    }
    if (!ok) throw new SignatureError(`signature by key ${id} does not verify`);
    return wrapped.b;
  }
}

/** A fresh operator key pair as PEM (private: PKCS#8, public: SPKI) and its key id in hex. */
export function generateSigningKeys(): { privatePem: string; publicPem: string; keyId: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    keyId: keyIdOf(publicKey).toString('hex'),
  };
}
