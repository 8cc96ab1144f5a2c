import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';

// A WebAuthn authenticator in software, for the passkey tests: ES256 keys from node:crypto,
// attestation "none" on registration, ECDSA-SHA256 (DER) assertions, a signature counter. It
// answers the options JSON the API hands out with the JSON a browser would send back, and lets a
// test bend what a real one would not (another origin or RP id, a counter that goes backwards).

// A minimal CBOR encoder (RFC 8949): unsigned and negative integers, byte and text strings,
// arrays and maps; what attestation objects and COSE keys are made of.
function head(major: number, length: number): Buffer {
  if (length < 24) return Buffer.from([(major << 5) | length]);
  if (length < 0x100) return Buffer.from([(major << 5) | 24, length]);
  if (length < 0x10000) return Buffer.from([(major << 5) | 25, length >> 8, length & 0xff]);
  const b = Buffer.alloc(5);
  b[0] = (major << 5) | 26;
  b.writeUInt32BE(length, 1);
  return b;
}

export type CborValue = number | string | Uint8Array | CborValue[] | Map<number | string, CborValue> | { [key: string]: CborValue };

export function cbor(value: CborValue): Buffer {
  if (typeof value === 'number') return value >= 0 ? head(0, value) : head(1, -1 - value);
  if (typeof value === 'string') {
    const text = Buffer.from(value, 'utf8');
    return Buffer.concat([head(3, text.length), text]);
  }
  if (value instanceof Uint8Array) return Buffer.concat([head(2, value.length), value]);
  if (Array.isArray(value)) return Buffer.concat([head(4, value.length), ...value.map(cbor)]);
  const entries = value instanceof Map ? [...value.entries()] : Object.entries(value);
  return Buffer.concat([head(5, entries.length), ...entries.flatMap(([k, v]) => [cbor(k), cbor(v)])]);
}

const b64url = (bytes: Uint8Array | string) => Buffer.from(bytes).toString('base64url');
const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest();

const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const FLAG_AT = 0x40;

export interface SoftwareCredential {
  id: Buffer;
  /** base64url, as the API and the browser spell it. */
  idText: string;
  privateKey: KeyObject;
  /** The user handle the registration options gave (base64url). */
  userHandle: string;
  rpId: string;
  counter: number;
}

/** What a test may bend in one ceremony. */
export interface Bend {
  origin?: string;
  rpId?: string;
  /** The counter to report instead of the next one. */
  counter?: number;
  /** Report the user as not verified (UV flag off). */
  unverified?: boolean;
  /** Answer with this credential instead of the first one. */
  credential?: SoftwareCredential;
}

export class SoftwareAuthenticator {
  readonly credentials: SoftwareCredential[] = [];

  private readonly origin: string;

  constructor(origin: string) {
    this.origin = origin;
  }

  /** Answers `navigator.credentials.create(options)` (options: PublicKeyCredentialCreationOptionsJSON text). */
  register(optionsJson: string, bend: Bend = {}): { response: string; credential: SoftwareCredential } {
    const options = JSON.parse(optionsJson) as { challenge: string; rp: { id: string }; user: { id: string } };
    const rpId = bend.rpId ?? options.rp.id;
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' });
    const coseKey = new Map<number, CborValue>([
      [1, 2], // kty: EC2
      [3, -7], // alg: ES256
      [-1, 1], // crv: P-256
      [-2, Buffer.from(jwk.x!, 'base64url')],
      [-3, Buffer.from(jwk.y!, 'base64url')],
    ]);
    const id = randomBytes(32);
    const credential: SoftwareCredential = { id, idText: b64url(id), privateKey, userHandle: options.user.id, rpId, counter: 0 };
    const counter = bend.counter ?? 0;
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(id.length);
    const authData = Buffer.concat([
      this.authDataHead(rpId, FLAG_UP | FLAG_AT | (bend.unverified ? 0 : FLAG_UV), counter),
      Buffer.alloc(16), // AAGUID: none
      idLength,
      id,
      cbor(coseKey),
    ]);
    const clientDataJSON = this.clientData('webauthn.create', options.challenge, bend.origin);
    const attestationObject = cbor({ fmt: 'none', attStmt: {}, authData });
    this.credentials.push(credential);
    return {
      credential,
      response: JSON.stringify({
        id: credential.idText,
        rawId: credential.idText,
        type: 'public-key',
        response: { clientDataJSON: b64url(clientDataJSON), attestationObject: b64url(attestationObject), transports: ['internal'] },
        authenticatorAttachment: 'platform',
        clientExtensionResults: {},
      }),
    };
  }

  /** Answers `navigator.credentials.get(options)` (options: PublicKeyCredentialRequestOptionsJSON text). */
  assert(optionsJson: string, bend: Bend = {}): string {
    const options = JSON.parse(optionsJson) as { challenge: string; rpId: string };
    const credential = bend.credential ?? this.credentials[0];
    if (!credential) throw new Error('the software authenticator holds no credential');
    const counter = bend.counter ?? credential.counter + 1;
    credential.counter = Math.max(credential.counter, counter);
    const authenticatorData = this.authDataHead(bend.rpId ?? options.rpId, FLAG_UP | (bend.unverified ? 0 : FLAG_UV), counter);
    const clientDataJSON = this.clientData('webauthn.get', options.challenge, bend.origin);
    // ES256 as WebAuthn wants it: ECDSA over authenticatorData || SHA-256(clientDataJSON), DER-encoded.
    const signature = sign('sha256', Buffer.concat([authenticatorData, sha256(clientDataJSON)]), credential.privateKey);
    return JSON.stringify({
      id: credential.idText,
      rawId: credential.idText,
      type: 'public-key',
      response: {
        clientDataJSON: b64url(clientDataJSON),
        authenticatorData: b64url(authenticatorData),
        signature: b64url(signature),
        userHandle: credential.userHandle,
      },
      authenticatorAttachment: 'platform',
      clientExtensionResults: {},
    });
  }

  private authDataHead(rpId: string, flags: number, counter: number): Buffer {
    const counterBytes = Buffer.alloc(4);
    counterBytes.writeUInt32BE(counter);
    return Buffer.concat([sha256(rpId), Buffer.from([flags]), counterBytes]);
  }

  private clientData(type: string, challenge: string, origin = this.origin): Buffer {
    return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }));
  }
}
