import { createHash, randomBytes } from 'node:crypto';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { BerthError } from '../errors.ts';
import { unknownAdmin, type AdminStore, type PasskeyRecord } from './admin-store.ts';

/**
 * Passkeys (WebAuthn): an admin adds one from the dashboard once signed in,
 * and signs in with it later without typing a name. The protocol's bytes
 * (attestation formats, COSE keys, signatures) are checked by
 * @simplewebauthn/server; this file keeps the policy: which challenge is
 * expected, for how long, where passkeys are stored and which error a
 * failure is.
 *
 * The app calls it like this:
 *
 * Adding (the admin is signed in, the request carries the CSRF token):
 *   1. `registrationOptions(admin)` → JSON for `navigator.credentials.create`.
 *      The challenge is remembered for that admin, 5 minutes; asking again
 *      replaces it (the last tab opened wins).
 *   2. The browser's `credential.toJSON()` goes back to
 *      `verifyRegistration(admin, json, now, label)`; the challenge is used
 *      up whether or not the answer verifies.
 *
 * Signing in (no one is signed in yet):
 *   1. `authenticationOptions()` → `{ options, challengeId }`. `options` go to
 *      `navigator.credentials.get` (no allowCredentials: the browser offers
 *      the passkeys it has for this RP id). `challengeId` is random and
 *      names the challenge; the app puts it in a short-lived cookie
 *      (`__Host-`, HttpOnly, Secure, SameSite=Strict, Max-Age 300), so only
 *      the browser that asked can answer, and never shows it to the page.
 *   2. `verifyAuthentication(challengeIdFromCookie, json)` → the admin's
 *      name; the app clears the cookie and calls `sessions.start`. The
 *      challenge is used up at the first call, whatever its outcome.
 *
 * Errors: E_ADMIN_PASSKEY when the exchange itself is wrong (no such or an
 * expired or used challenge, a malformed answer, another origin or RP id):
 * the fix is to start again on the right page. E_ADMIN_SIGN_IN when the
 * answer is well formed but does not sign anyone in (an unknown or removed
 * passkey, a bad signature, a counter that went backwards), the code a
 * wrong password gets, so the app can count it the same way. Messages never
 * repeat more than a few characters of what the browser sent.
 *
 * Challenges live in this process's memory (the control plane is one
 * process): a restart forgets them, and the user starts again. Both maps
 * are bounded; a flood of sign-in starts pushes out the oldest pending
 * ones, so the app should bound how often one address may start.
 *
 * User verification is asked for ('preferred') but not required: a
 * security key without a PIN works, and is then something one has, not
 * also something one knows. Removing a lost key (berth admin passkeys NAME
 * --remove ID) is the answer to losing it.
 *
 * A long file: half of it reads the browser's answer field by field and
 * turns the library's failures into our messages, which belong with the
 * checks they guard; it could move to a file of its own if it grows.
 */
export interface RelyingParty {
  /** The RP id: the admin host's name, e.g. `admin.example.com`. Passkeys are bound to it. */
  id: string;
  /** Shown by the browser when it asks to create a passkey. */
  name: string;
  /** Where the dashboard is served, e.g. `https://admin.example.com` or `https://admin.localhost:8443`. */
  origin: string;
}

/** A passkey as listed: everything but its public key. */
export type PasskeyInfo = Omit<PasskeyRecord, 'publicKey'>;

export interface PasskeySignInStart {
  options: PublicKeyCredentialRequestOptionsJSON;
  /** 22 characters of base64url; the app binds it to the browser (a cookie) and gives it back to `verifyAuthentication`. */
  challengeId: string;
}

export interface Passkeys {
  readonly relyingParty: Readonly<RelyingParty>;
  /** Options for `navigator.credentials.create`; E_ADMIN_UNKNOWN for no such admin, E_ADMIN_PASSKEY when they have the most passkeys allowed. */
  registrationOptions(admin: string, now?: number): Promise<PublicKeyCredentialCreationOptionsJSON>;
  /**
   * Checks the browser's answer to the admin's pending challenge and stores
   * the passkey under `label` (1 to 64 characters; by default "passkey N").
   */
  verifyRegistration(admin: string, responseJSON: unknown, now?: number, label?: string): Promise<PasskeyInfo>;
  /** Options for `navigator.credentials.get`, and the id of their challenge. */
  authenticationOptions(now?: number): Promise<PasskeySignInStart>;
  /** The name of the admin whose passkey answered the challenge `challengeId` names. */
  verifyAuthentication(challengeId: string | undefined, responseJSON: unknown, now?: number): Promise<string>;
  /** The admin's passkeys, oldest first; E_ADMIN_UNKNOWN for no such admin. */
  list(admin: string): PasskeyInfo[];
  /** Removes one (`removePasskey` below); E_ADMIN_PASSKEY_UNKNOWN when the admin has none with that id. */
  remove(admin: string, credentialId: string): void;
}

/** How long a challenge can be answered: the browser's prompt gets the same time. */
export const PASSKEY_CHALLENGE_MS = 5 * 60 * 1000;
/** Passkeys per admin: enough for every device one owns, few enough that a list stays readable. */
export const MAX_PASSKEYS_PER_ADMIN = 20;
export const MAX_PASSKEY_LABEL_LENGTH = 64;

/** Pending challenges kept at once: registrations need a signed-in admin, sign-ins need nothing. */
const MAX_PENDING_REGISTRATIONS = 1_000;
const MAX_PENDING_SIGN_INS = 10_000;
/** A browser's answer is a few kilobytes; one sent as text is refused past this before it is parsed. */
const MAX_RESPONSE_CHARS = 64 * 1024;
/** Each base64url field: a credential id is at most 1023 bytes, an attestation with its certificates a few kilobytes. */
const MAX_FIELD_CHARS = 32 * 1024;
const MAX_CREDENTIAL_ID_CHARS = 1366;
const CHALLENGE_ID = /^[A-Za-z0-9_-]{22}$/;
const BASE64URL = /^[A-Za-z0-9_-]*$/;
/**
 * Key algorithms accepted: EdDSA, ES256 and RS256 (COSE ids), which every
 * authenticator in use offers. Named here rather than left to the library,
 * whose default also probes for ML-DSA through an experimental Web Crypto
 * call that prints a warning into the server's log.
 */
const ALGORITHMS = [-8, -7, -257];
const TRANSPORTS = new Set(['ble', 'cable', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb']);

interface Pending {
  challenge: string;
  expiresAt: number;
}

export function createPasskeys(store: AdminStore, relyingParty: RelyingParty): Passkeys {
  const rp = Object.freeze(checkRelyingParty(relyingParty));
  const rpIdHash = createHash('sha256').update(rp.id, 'utf8').digest();
  const registrations = new Map<string, Pending>();
  const signIns = new Map<string, Pending>();

  /** With their keys, which `list` leaves out. */
  function passkeysOf(admin: string): PasskeyRecord[] {
    if (store.getAdmin(admin) === undefined) throw unknownAdmin(admin);
    return store.listPasskeys(admin);
  }

  return {
    relyingParty: rp,

    async registrationOptions(admin, now = Date.now()) {
      const existing = passkeysOf(admin);
      if (existing.length >= MAX_PASSKEYS_PER_ADMIN) throw tooMany(admin);
      const userHandle = store.passkeyUserHandle(admin, randomBytes(32).toString('base64url'));
      const options = await generateRegistrationOptions({
        rpName: rp.name,
        rpID: rp.id,
        userName: admin,
        userDisplayName: admin,
        // Random and kept per admin, never the name: a name can be given to someone else after removal.
        userID: new Uint8Array(Buffer.from(userHandle, 'base64url')),
        timeout: PASSKEY_CHALLENGE_MS,
        attestationType: 'none',
        supportedAlgorithmIDs: ALGORITHMS,
        excludeCredentials: existing.map((passkey) => ({ id: passkey.id, transports: [...passkey.transports] })),
        // Resident ("discoverable") so that sign-in needs no name: the authenticator offers the passkey itself.
        authenticatorSelection: { residentKey: 'required', userVerification: 'preferred' },
      });
      remember(registrations, admin, { challenge: options.challenge, expiresAt: now + PASSKEY_CHALLENGE_MS }, MAX_PENDING_REGISTRATIONS, now);
      return options;
    },

    async verifyRegistration(admin, responseJSON, now = Date.now(), label) {
      const chosenLabel = label === undefined ? undefined : checkLabel(label);
      // Taken before anything else, so that an answer is checked at most once whatever happens next.
      const pending = take(registrations, admin, now, 'adding a passkey', 'start again from the dashboard');
      const existing = passkeysOf(admin);
      if (existing.length >= MAX_PASSKEYS_PER_ADMIN) throw tooMany(admin);
      const response = readRegistrationResponse(responseJSON);
      checkClientData(response.response.clientDataJSON, 'webauthn.create', pending.challenge, rp, 'adding a passkey');
      let verified;
      try {
        verified = await verifyRegistrationResponse({
          response,
          expectedChallenge: pending.challenge,
          expectedOrigin: rp.origin,
          expectedRPID: rp.id,
          requireUserVerification: false,
          supportedAlgorithmIDs: ALGORITHMS,
        });
      } catch (error) {
        throw passkeyRefused(`the authenticator's answer did not verify (${libraryReason(error, rp)})`, 'adding a passkey');
      }
      if (!verified.verified) throw passkeyRefused("the authenticator's answer did not verify", 'adding a passkey');
      const info = verified.registrationInfo;
      const record: Omit<PasskeyRecord, 'lastUsedAt'> = {
        id: info.credential.id,
        admin,
        publicKey: info.credential.publicKey,
        counter: info.credential.counter,
        transports: response.response.transports ?? [],
        deviceType: info.credentialDeviceType,
        backedUp: info.credentialBackedUp,
        label: chosenLabel ?? nextLabel(existing),
        createdAt: now,
      };
      store.addPasskey(record);
      return withoutKey({ ...record, lastUsedAt: undefined });
    },

    async authenticationOptions(now = Date.now()) {
      const options = await generateAuthenticationOptions({ rpID: rp.id, timeout: PASSKEY_CHALLENGE_MS, userVerification: 'preferred' });
      const challengeId = randomBytes(16).toString('base64url');
      remember(signIns, challengeId, { challenge: options.challenge, expiresAt: now + PASSKEY_CHALLENGE_MS }, MAX_PENDING_SIGN_INS, now);
      return { options, challengeId };
    },

    async verifyAuthentication(challengeId, responseJSON, now = Date.now()) {
      if (typeof challengeId !== 'string' || !CHALLENGE_ID.test(challengeId)) {
        throw passkeyRefused('the browser did not bring back a passkey challenge Berth gave it (cookies off, or another browser)', 'signing in');
      }
      const pending = take(signIns, challengeId, now, 'signing in', 'start the sign-in again');
      const response = readAuthenticationResponse(responseJSON);
      checkClientData(response.response.clientDataJSON, 'webauthn.get', pending.challenge, rp, 'signing in');
      const authenticatorData = Buffer.from(response.response.authenticatorData, 'base64url');
      if (authenticatorData.length < 37 || !authenticatorData.subarray(0, 32).equals(rpIdHash)) {
        throw passkeyRefused(`the passkey is for another RP id than ${rp.id}`, 'signing in');
      }
      const passkey = store.getPasskey(response.id);
      if (passkey === undefined) {
        throw new BerthError('E_ADMIN_SIGN_IN', 'This passkey is not known to Berth: it was removed, or its admin was; sign in another way (berth admin link NAME on the server)');
      }
      const userHandle = response.response.userHandle;
      if (userHandle !== undefined && userHandle !== '' && userHandle !== store.getPasskeyUserHandle(passkey.admin)) {
        throw new BerthError('E_ADMIN_SIGN_IN', 'The passkey answered for another user than the one it was added for; remove it and add it again');
      }
      let verified;
      try {
        verified = await verifyAuthenticationResponse({
          response,
          expectedChallenge: pending.challenge,
          expectedOrigin: rp.origin,
          expectedRPID: rp.id,
          credential: { id: passkey.id, publicKey: new Uint8Array(passkey.publicKey), counter: passkey.counter, transports: [...passkey.transports] },
          requireUserVerification: false,
        });
      } catch (error) {
        if (error instanceof Error && /counter/i.test(error.message)) {
          throw new BerthError(
            'E_ADMIN_SIGN_IN',
            // Neither the admin nor the label is named: the message goes to whoever holds the copy.
            `The passkey counted fewer uses than it had before, as a copy of an authenticator does; the sign-in was refused. If the authenticator is yours, remove the passkey (berth admin passkeys NAME --remove ID on the server) and add it again`,
          );
        }
        throw new BerthError('E_ADMIN_SIGN_IN', `The passkey's signature did not verify (${libraryReason(error, rp)}); sign in again`);
      }
      if (!verified.verified) throw new BerthError('E_ADMIN_SIGN_IN', "The passkey's signature did not verify; sign in again");
      const info = verified.authenticationInfo;
      if (!store.usePasskey(passkey.id, { counter: info.newCounter, backedUp: info.credentialBackedUp, lastUsedAt: now })) {
        throw new BerthError('E_ADMIN_SIGN_IN', 'This passkey was removed while signing in; sign in another way');
      }
      return passkey.admin;
    },

    list(admin) {
      return listPasskeys(store, admin);
    },

    remove(admin, credentialId) {
      removePasskey(store, admin, credentialId);
    },
  };
}

/** An admin's passkeys, oldest first, without their keys; E_ADMIN_UNKNOWN for no such admin. Needs no relying party, for the command line. */
export function listPasskeys(store: AdminStore, admin: string): PasskeyInfo[] {
  if (store.getAdmin(admin) === undefined) throw unknownAdmin(admin);
  return store.listPasskeys(admin).map(withoutKey);
}

/**
 * Removes one of the admin's passkeys, named by its whole credential id or,
 * as `berth admin passkeys` shows it, by the start of it if no other
 * passkey of theirs starts the same. Returns the one removed;
 * E_ADMIN_PASSKEY_UNKNOWN when none (or more than one) matches. A session
 * signed in with it goes on: `berth admin sessions NAME --revoke-all` ends those.
 */
export function removePasskey(store: AdminStore, admin: string, credentialId: string): PasskeyInfo {
  const matching = listPasskeys(store, admin).filter((passkey) => passkey.id === credentialId || (credentialId.length >= 4 && passkey.id.startsWith(credentialId)));
  const exact = matching.find((passkey) => passkey.id === credentialId);
  const passkey = exact ?? (matching.length === 1 ? matching[0] : undefined);
  if (passkey === undefined || !store.removePasskey(admin, passkey.id)) {
    const why = matching.length > 1 ? `more than one of ${admin}'s passkeys starts with "${shortId(credentialId)}"; give more of the id` : `${admin} has no passkey with the id "${shortId(credentialId)}"`;
    throw new BerthError('E_ADMIN_PASSKEY_UNKNOWN', `${why}; berth admin passkeys ${admin} lists theirs`);
  }
  return passkey;
}

/** The first characters of a credential id, as `berth admin passkeys` shows it; enough to tell an admin's passkeys apart. */
export function shortId(id: string): string {
  return id.length <= 12 ? id : id.slice(0, 12);
}

function checkRelyingParty(relyingParty: RelyingParty): RelyingParty {
  let url: URL | undefined;
  try {
    url = new URL(relyingParty.origin);
  } catch {
    url = undefined;
  }
  const secure = url?.protocol === 'https:' || (url?.protocol === 'http:' && url.hostname === 'localhost');
  const host = url?.hostname ?? '';
  if (url === undefined || !secure || url.origin !== relyingParty.origin || (host !== relyingParty.id && !host.endsWith(`.${relyingParty.id}`)) || relyingParty.id === '') {
    throw new BerthError(
      'E_ADMIN_PASSKEY',
      `Passkeys need the dashboard's origin (https://HOST[:PORT], no path) on the RP id's host or under it; got origin ${JSON.stringify(relyingParty.origin)} and RP id ${JSON.stringify(relyingParty.id)}`,
    );
  }
  return { id: relyingParty.id, name: relyingParty.name, origin: relyingParty.origin };
}

/** Remembers a challenge, dropping expired ones, then the oldest, to stay within `max`. */
function remember(map: Map<string, Pending>, key: string, pending: Pending, max: number, now: number): void {
  map.delete(key);
  if (map.size >= max) {
    for (const [other, value] of map) if (value.expiresAt <= now) map.delete(other);
  }
  for (const oldest of map.keys()) {
    if (map.size < max) break;
    map.delete(oldest);
  }
  map.set(key, pending);
}

/** Takes a challenge out of the map, once: a second answer to it finds nothing. */
function take(map: Map<string, Pending>, key: string, now: number, doing: string, fix: string): Pending {
  const pending = map.get(key);
  map.delete(key);
  if (pending === undefined) throw passkeyRefused(`no challenge is pending (it was answered already, was never given, or Berth restarted); ${fix}`, doing, false);
  if (now >= pending.expiresAt) throw passkeyRefused(`the challenge expired (it can be answered for ${PASSKEY_CHALLENGE_MS / 60_000} minutes); ${fix}`, doing, false);
  return pending;
}

function passkeyRefused(reason: string, doing: string, addFix = true): BerthError {
  return new BerthError('E_ADMIN_PASSKEY', `Passkey refused while ${doing}: ${reason}${addFix ? `; ${doing === 'signing in' ? 'start the sign-in again' : 'start again from the dashboard'}` : ''}`);
}

function tooMany(admin: string): BerthError {
  return new BerthError('E_ADMIN_PASSKEY', `${admin} has ${MAX_PASSKEYS_PER_ADMIN} passkeys, the most allowed; remove one first (berth admin passkeys ${admin} --remove ID)`);
}

function checkLabel(label: string): string {
  const trimmed = typeof label === 'string' ? label.trim() : '';
  if (trimmed === '' || [...trimmed].length > MAX_PASSKEY_LABEL_LENGTH || /\p{Cc}/u.test(trimmed)) {
    throw new BerthError('E_ADMIN_PASSKEY', `A passkey's label is 1 to ${MAX_PASSKEY_LABEL_LENGTH} characters, without control characters; choose a shorter name, such as "laptop"`);
  }
  return trimmed;
}

function nextLabel(existing: readonly PasskeyRecord[]): string {
  const taken = new Set(existing.map((passkey) => passkey.label));
  let n = existing.length + 1;
  while (taken.has(`passkey ${n}`)) n += 1;
  return `passkey ${n}`;
}

function withoutKey(record: PasskeyRecord): PasskeyInfo {
  return {
    id: record.id,
    admin: record.admin,
    counter: record.counter,
    transports: record.transports,
    deviceType: record.deviceType,
    backedUp: record.backedUp,
    label: record.label,
    createdAt: record.createdAt,
    lastUsedAt: record.lastUsedAt,
  };
}

/*
 * The browser's answer is read field by field into a fresh object: nothing
 * it sent beyond these fields reaches the library, and a wrong type or a
 * huge value is refused with a message that names the field, not its value.
 */

type Doing = 'adding a passkey' | 'signing in';

function readRegistrationResponse(input: unknown): RegistrationResponseJSON {
  const doing: Doing = 'adding a passkey';
  const credential = readObject(input, doing);
  const { id, response } = readCredential(credential, doing);
  const transports = Array.isArray(response.transports)
    ? response.transports.slice(0, 16).filter((transport): transport is string => typeof transport === 'string' && TRANSPORTS.has(transport))
    : [];
  return {
    id,
    rawId: id,
    type: 'public-key',
    clientExtensionResults: {},
    response: {
      clientDataJSON: readBase64url(response, 'response.clientDataJSON', MAX_FIELD_CHARS, doing),
      attestationObject: readBase64url(response, 'response.attestationObject', MAX_FIELD_CHARS, doing),
      transports: [...new Set(transports)],
    },
  };
}

function readAuthenticationResponse(input: unknown): AuthenticationResponseJSON {
  const doing: Doing = 'signing in';
  const credential = readObject(input, doing);
  const { id, response } = readCredential(credential, doing);
  const userHandle = response.userHandle === undefined || response.userHandle === null ? undefined : readBase64url(response, 'response.userHandle', 128, doing);
  return {
    id,
    rawId: id,
    type: 'public-key',
    clientExtensionResults: {},
    response: {
      clientDataJSON: readBase64url(response, 'response.clientDataJSON', MAX_FIELD_CHARS, doing),
      authenticatorData: readBase64url(response, 'response.authenticatorData', MAX_FIELD_CHARS, doing),
      signature: readBase64url(response, 'response.signature', MAX_FIELD_CHARS, doing),
      ...(userHandle === undefined ? {} : { userHandle }),
    },
  };
}

function readObject(input: unknown, doing: Doing): Record<string, unknown> {
  let value = input;
  if (typeof input === 'string') {
    if (input.length > MAX_RESPONSE_CHARS) throw malformed(`it is longer than ${MAX_RESPONSE_CHARS / 1024} KiB`, doing);
    try {
      value = JSON.parse(input);
    } catch {
      throw malformed('it is not JSON', doing);
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw malformed('it is not a JSON object', doing);
  return value as Record<string, unknown>;
}

function readCredential(credential: Record<string, unknown>, doing: Doing): { id: string; response: Record<string, unknown> } {
  const id = readBase64url(credential, 'id', MAX_CREDENTIAL_ID_CHARS, doing);
  if (id === '') throw malformed('"id" is empty', doing);
  if (credential.rawId !== id) throw malformed('"rawId" is not the same as "id"', doing);
  if (credential.type !== 'public-key') throw malformed('"type" is not "public-key"', doing);
  const response = credential.response;
  if (typeof response !== 'object' || response === null || Array.isArray(response)) throw malformed('"response" is not an object', doing);
  return { id, response: response as Record<string, unknown> };
}

function readBase64url(object: Record<string, unknown>, path: string, maxChars: number, doing: Doing): string {
  const key = path.slice(path.lastIndexOf('.') + 1);
  const value = Object.hasOwn(object, key) ? object[key] : undefined;
  if (typeof value !== 'string') throw malformed(`"${path}" is not a string`, doing);
  if (value.length > maxChars) throw malformed(`"${path}" is longer than ${maxChars} characters`, doing);
  if (!BASE64URL.test(value)) throw malformed(`"${path}" is not base64url (A-Z, a-z, 0-9, "-" and "_", no padding)`, doing);
  return value;
}

function malformed(what: string, doing: Doing): BerthError {
  return passkeyRefused(`the browser's answer is not one a browser makes: ${what}`, doing);
}

/**
 * The client data says what the browser was asked and where: checked here,
 * before the library, so that the usual mistakes (a page on another
 * origin, an old tab) get a message that says what to do.
 */
function checkClientData(encoded: string, type: string, challenge: string, rp: RelyingParty, doing: Doing): void {
  let data: unknown;
  try {
    data = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8'));
  } catch {
    throw malformed('"response.clientDataJSON" is not JSON', doing);
  }
  if (typeof data !== 'object' || data === null) throw malformed('"response.clientDataJSON" is not a JSON object', doing);
  const client = data as Record<string, unknown>;
  if (client.type !== type) throw passkeyRefused(`the browser answered another kind of request (${type} was asked)`, doing);
  if (client.challenge !== challenge) throw passkeyRefused("the answer is to another challenge than this one's (an old tab, or another browser's)", doing);
  if (client.origin !== rp.origin) {
    const origin = typeof client.origin === 'string' ? JSON.stringify(client.origin.slice(0, 100)) : 'no origin';
    throw passkeyRefused(`the browser was on ${origin}, not on ${rp.origin}; open the dashboard at ${rp.origin}`, doing, false);
  }
}

/** What went wrong in the library, in words of ours: its messages quote the browser's values, which are not repeated. */
function libraryReason(error: unknown, rp: RelyingParty): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  const message = error instanceof Error ? error.message : '';
  if (code === 'UNEXPECTED_RP_ID' || /RP ID/i.test(message)) return `it is for another RP id than ${rp.id}`;
  if (code === 'UNEXPECTED_ORIGIN' || /origin/i.test(message)) return `it was made on another origin than ${rp.origin}`;
  if (/signature/i.test(message)) return 'the signature is wrong';
  if (/user presence|not present/i.test(message)) return 'the authenticator did not confirm a person was present';
  if (/alg/i.test(message)) return 'the key uses an algorithm Berth does not accept';
  return 'the authenticator data or its public key could not be read';
}
