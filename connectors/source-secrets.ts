/**
 * How a generic source's secrets are kept. A URL token is only ever compared: its SHA-256 is stored (the token is a
 * long random value, so no salt or slow hash is needed) and compared in constant time. An HMAC secret and a fetch
 * bearer token are needed themselves (to verify a signature, to call the platform): they are stored encrypted with
 * AES-256-GCM under SECRETS_KEY, bound to their source and field (a sealed value copied to another row does not
 * open). Neither is ever returned by the API; one Parcours generates is shown once, in the answer that created it.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { SourceConfig, SourceFetch } from './source-config';

/** Stored forms: `secretSealed`/`bearerTokenSealed` are `v1:<base64 of iv | tag | ciphertext>`. */
export type StoredSourceAuth =
  | { type: 'hmac'; header: string; encoding: 'base64' | 'hex'; prefix: string; secretSealed: string }
  | { type: 'token'; tokenSha256: string };
export type StoredSourceFetch = Omit<SourceFetch, 'bearerToken'> & { bearerTokenSealed?: string };
export type StoredSourceConfig = Omit<SourceConfig, 'auth' | 'fetch'> & {
  auth: StoredSourceAuth;
  fetch?: StoredSourceFetch;
};

/** No SECRETS_KEY: a secret that must be kept encrypted can neither be saved nor read. */
export class SecretsKeyMissing extends Error {
  constructor() {
    super('SECRETS_KEY is not set: source secrets are stored encrypted with it (32 bytes, base64)');
  }
}

/** A sealed secret that does not open: another SECRETS_KEY sealed it, or it is still plain (not migrated). */
export class SecretUnreadable extends Error {}

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export const secretLabel = (sourceId: string, field: 'auth.secret' | 'fetch.bearerToken') =>
  `source:${sourceId}:${field}`;

export function sealSecret(key: Buffer, plain: string, label: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(label, 'utf8'));
  const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return `${VERSION}:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
}

export function openSecret(key: Buffer | undefined, sealed: string | undefined, label: string): string {
  if (sealed === undefined) throw new SecretUnreadable(`${label} is not stored encrypted: run \`npm run migrate\``);
  if (!key) throw new SecretsKeyMissing();
  const [version, encoded] = sealed.split(':');
  const raw = Buffer.from(encoded ?? '', 'base64');
  if (version !== VERSION || raw.length < IV_BYTES + TAG_BYTES)
    throw new SecretUnreadable(`${label} is not in a known encrypted form`);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(label, 'utf8'));
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch {
    throw new SecretUnreadable(`${label} does not decrypt with this SECRETS_KEY (was it sealed with another one?)`);
  }
}

export const tokenSha256 = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

/** Constant time over two 32-byte digests: neither the token's content nor its length leaks. */
export function tokenMatches(given: string | undefined, storedSha256: string): boolean {
  if (given === undefined) return false;
  const expected = Buffer.from(storedSha256, 'hex');
  const actual = createHash('sha256').update(given, 'utf8').digest();
  return expected.length === actual.length && timingSafeEqual(actual, expected);
}

/** A secret Parcours makes when none is given: 32 random bytes, URL-safe. */
const generated = () => randomBytes(32).toString('base64url');

export interface SecretsToStore {
  config: StoredSourceConfig;
  /** What Parcours generated: the only time it is shown. */
  generated: { secret?: string; token?: string };
}

/**
 * The configuration as stored. A secret left out of a replacement keeps the stored one (the API never shows it, so
 * an admin editing a mapping cannot send it again); left out of a creation, the HMAC secret or URL token is
 * generated. `fetch.bearerToken: null` removes the bearer token.
 */
export function secretsToStore(
  sourceId: string,
  input: SourceConfig,
  previous: StoredSourceConfig | undefined,
  key: Buffer | undefined,
): SecretsToStore {
  const made: SecretsToStore['generated'] = {};
  const seal = (plain: string, field: 'auth.secret' | 'fetch.bearerToken') => {
    if (!key) throw new SecretsKeyMissing();
    return sealSecret(key, plain, secretLabel(sourceId, field));
  };
  let auth: StoredSourceAuth;
  if (input.auth.type === 'hmac') {
    const { secret, ...rest } = input.auth;
    const kept = previous?.auth.type === 'hmac' && secret === undefined ? previous.auth.secretSealed : undefined;
    if (secret === undefined && kept === undefined) made.secret = generated();
    auth = { ...rest, secretSealed: kept ?? seal((secret ?? made.secret)!, 'auth.secret') };
  } else {
    const kept =
      previous?.auth.type === 'token' && input.auth.token === undefined ? previous.auth.tokenSha256 : undefined;
    if (input.auth.token === undefined && kept === undefined) made.token = generated();
    auth = { type: 'token', tokenSha256: kept ?? tokenSha256((input.auth.token ?? made.token)!) };
  }
  let fetch: StoredSourceFetch | undefined;
  if (input.fetch) {
    const { bearerToken, ...rest } = input.fetch;
    const sealed =
      typeof bearerToken === 'string'
        ? seal(bearerToken, 'fetch.bearerToken')
        : bearerToken === undefined
          ? previous?.fetch?.bearerTokenSealed
          : undefined;
    fetch = { ...rest, ...(sealed ? { bearerTokenSealed: sealed } : {}) };
  }
  const { fetch: _fetch, auth: _auth, ...plain } = input;
  return { config: { ...plain, auth, ...(fetch ? { fetch } : {}) }, generated: made };
}

/** A source saved before secrets were kept this way: its plain HMAC secret and bearer token, sealed. */
export function sealLegacySecrets(
  sourceId: string,
  config: Record<string, unknown>,
  key: Buffer,
): Record<string, unknown> {
  const out = { ...config };
  const auth = config.auth as Record<string, unknown> | undefined;
  if (auth && typeof auth.secret === 'string') {
    const { secret, ...rest } = auth;
    out.auth = { ...rest, secretSealed: sealSecret(key, secret, secretLabel(sourceId, 'auth.secret')) };
  }
  const fetch = config.fetch as Record<string, unknown> | undefined;
  if (fetch && typeof fetch.bearerToken === 'string') {
    const { bearerToken, ...rest } = fetch;
    out.fetch = {
      ...rest,
      bearerTokenSealed: sealSecret(key, bearerToken, secretLabel(sourceId, 'fetch.bearerToken')),
    };
  }
  return out;
}

/** The configuration as an admin may read it back: secrets are never returned (they are not even held in plain). */
export function redacted(config: StoredSourceConfig): Record<string, unknown> & { auth: Record<string, string> } {
  const { auth, fetch } = config;
  const shownAuth: Record<string, string> =
    auth.type === 'hmac'
      ? { type: auth.type, header: auth.header, encoding: auth.encoding, prefix: auth.prefix, secret: '(set)' }
      : { type: auth.type, token: '(set)' };
  const shownFetch = fetch
    ? (({ bearerTokenSealed, ...rest }) => ({ ...rest, ...(bearerTokenSealed ? { bearerToken: '(set)' } : {}) }))(fetch)
    : undefined;
  return { ...config, auth: shownAuth, ...(shownFetch ? { fetch: shownFetch } : {}) };
}
