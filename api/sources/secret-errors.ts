/** A source secret the server cannot seal or open: a configuration problem of the server, said as such (503). */
import { SecretsKeyMissing, SecretUnreadable } from '../../connectors/source-secrets';
import { HttpError } from '../errors';

/** The error to throw for `err`: a 503 naming what to configure, or `err` itself. */
export function sourceSecretError(err: unknown): unknown {
  if (err instanceof SecretsKeyMissing) return new HttpError(503, 'secrets_key_missing', err.message);
  if (err instanceof SecretUnreadable) return new HttpError(503, 'secret_unreadable', err.message);
  return err;
}
