/**
 * A software WebAuthn authenticator, with the browser's part: it answers
 * `navigator.credentials.create` and `.get` options with the JSON a browser
 * sends (`credential.toJSON()`), made of real bytes: a P-256 key pair,
 * authenticator data, a "none" attestation in CBOR, client data, and ECDSA
 * signatures. Each answer can be bent (another origin, RP id, challenge) to
 * test what a server refuses.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';

export interface CreationOptions {
  challenge: string;
  rp: { id?: string };
  user: { id: string };
}

export interface RequestOptions {
  challenge: string;
  rpId?: string;
}

/** What to change in one answer; by default it is what an honest browser on `origin` sends. */
export interface Bend {
  origin?: string;
  rpId?: string;
  challenge?: string;
  type?: string;
  /** Counter to report instead of the next one. */
  counter?: number;
  /** Flip a bit of the signature. */
  badSignature?: boolean;
  userHandle?: string;
}

export interface SoftwareAuthenticator {
  /** base64url, as the server stores it. */
  readonly credentialId: string;
  /** The user handle it was created for, base64url, once `create` ran. */
  readonly userHandle: string | undefined;
  readonly counter: number;
  create(options: CreationOptions, origin: string, bend?: Bend): RegistrationJSON;
  get(options: RequestOptions, origin: string, bend?: Bend): AuthenticationJSON;
  /** Another authenticator with the same key, id and counter, as a copied one would be. */
  clone(): SoftwareAuthenticator;
}

export interface RegistrationJSON {
  id: string;
  rawId: string;
  type: 'public-key';
  clientExtensionResults: Record<string, never>;
  authenticatorAttachment: 'platform';
  response: { clientDataJSON: string; attestationObject: string; transports: string[] };
}

export interface AuthenticationJSON {
  id: string;
  rawId: string;
  type: 'public-key';
  clientExtensionResults: Record<string, never>;
  response: { clientDataJSON: string; authenticatorData: string; signature: string; userHandle?: string };
}

const FLAG_USER_PRESENT = 0x01;
const FLAG_USER_VERIFIED = 0x04;
const FLAG_ATTESTED_CREDENTIAL = 0x40;

interface State {
  privateKey: KeyObject;
  publicKey: KeyObject;
  credentialId: Buffer;
  counter: number;
  userHandle: string | undefined;
}

/** A new authenticator; `userVerified: false` is a security key without a PIN. */
export function createSoftwareAuthenticator(options: { userVerified?: boolean } = {}): SoftwareAuthenticator {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return authenticatorFrom({ privateKey, publicKey, credentialId: randomBytes(16), counter: 0, userHandle: undefined }, options.userVerified ?? true);
}

function authenticatorFrom(state: State, userVerified: boolean): SoftwareAuthenticator {
  const flags = FLAG_USER_PRESENT | (userVerified ? FLAG_USER_VERIFIED : 0);
  return {
    get credentialId() {
      return state.credentialId.toString('base64url');
    },
    get userHandle() {
      return state.userHandle;
    },
    get counter() {
      return state.counter;
    },

    create(options, origin, bend = {}) {
      state.userHandle = options.user.id;
      const rpId = bend.rpId ?? options.rp.id ?? new URL(origin).hostname;
      const clientData = clientDataJSON(bend.type ?? 'webauthn.create', bend.challenge ?? options.challenge, bend.origin ?? origin);
      const jwk = state.publicKey.export({ format: 'jwk' });
      const coseKey = new Map<number, CborValue>([
        [1, 2], // kty: EC2
        [3, -7], // alg: ES256
        [-1, 1], // crv: P-256
        [-2, Buffer.from(jwk.x as string, 'base64url')],
        [-3, Buffer.from(jwk.y as string, 'base64url')],
      ]);
      const idLength = Buffer.alloc(2);
      idLength.writeUInt16BE(state.credentialId.length);
      const authData = Buffer.concat([
        authenticatorData(rpId, flags | FLAG_ATTESTED_CREDENTIAL, bend.counter ?? state.counter),
        Buffer.alloc(16), // AAGUID: zero, as many authenticators send with "none"
        idLength,
        state.credentialId,
        encodeCbor(coseKey),
      ]);
      const attestationObject = encodeCbor(new Map<string, CborValue>([
        ['fmt', 'none'],
        ['attStmt', new Map()],
        ['authData', authData],
      ]));
      const id = state.credentialId.toString('base64url');
      return {
        id,
        rawId: id,
        type: 'public-key',
        clientExtensionResults: {},
        authenticatorAttachment: 'platform',
        response: { clientDataJSON: clientData.toString('base64url'), attestationObject: attestationObject.toString('base64url'), transports: ['internal', 'hybrid'] },
      };
    },

    get(options, origin, bend = {}) {
      state.counter += 1;
      const rpId = bend.rpId ?? options.rpId ?? new URL(origin).hostname;
      const clientData = clientDataJSON(bend.type ?? 'webauthn.get', bend.challenge ?? options.challenge, bend.origin ?? origin);
      const authData = authenticatorData(rpId, flags, bend.counter ?? state.counter);
      const signature = sign('sha256', Buffer.concat([authData, createHash('sha256').update(clientData).digest()]), state.privateKey);
      if (bend.badSignature === true) signature.writeUInt8((signature.at(-1) ?? 0) ^ 0x01, signature.length - 1);
      const id = state.credentialId.toString('base64url');
      const userHandle = bend.userHandle ?? state.userHandle;
      return {
        id,
        rawId: id,
        type: 'public-key',
        clientExtensionResults: {},
        response: {
          clientDataJSON: clientData.toString('base64url'),
          authenticatorData: authData.toString('base64url'),
          signature: signature.toString('base64url'),
          ...(userHandle === undefined ? {} : { userHandle }),
        },
      };
    },

    clone() {
      return authenticatorFrom({ ...state }, userVerified);
    },
  };
}

function clientDataJSON(type: string, challenge: string, origin: string): Buffer {
  return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }), 'utf8');
}

/** rpIdHash (32) | flags (1) | signCount (4, big-endian). */
function authenticatorData(rpId: string, flags: number, counter: number): Buffer {
  const tail = Buffer.alloc(5);
  tail.writeUInt8(flags, 0);
  tail.writeUInt32BE(counter, 1);
  return Buffer.concat([createHash('sha256').update(rpId, 'utf8').digest(), tail]);
}

export type CborValue = number | string | Uint8Array | CborValue[] | Map<number | string, CborValue>;

/** The CBOR (RFC 8949) WebAuthn needs: integers, byte and text strings, arrays and maps, in definite lengths. */
export function encodeCbor(value: CborValue): Buffer {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new TypeError(`only integers are encoded, not ${value}`);
    return value >= 0 ? head(0, value) : head(1, -1 - value);
  }
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    return Buffer.concat([head(3, bytes.length), bytes]);
  }
  if (value instanceof Uint8Array) return Buffer.concat([head(2, value.length), value]);
  if (Array.isArray(value)) return Buffer.concat([head(4, value.length), ...value.map(encodeCbor)]);
  return Buffer.concat([head(5, value.size), ...[...value].flatMap(([key, item]) => [encodeCbor(key), encodeCbor(item)])]);
}

/** A major type and its argument, in the shortest form. */
function head(major: number, argument: number): Buffer {
  const type = major << 5;
  if (argument < 24) return Buffer.from([type | argument]);
  if (argument < 0x100) return Buffer.from([type | 24, argument]);
  if (argument < 0x10000) {
    const bytes = Buffer.alloc(3);
    bytes.writeUInt8(type | 25, 0);
    bytes.writeUInt16BE(argument, 1);
    return bytes;
  }
  const bytes = Buffer.alloc(5);
  bytes.writeUInt8(type | 26, 0);
  bytes.writeUInt32BE(argument, 1);
  return bytes;
}
