/** A source secret the server cannot seal or open: a configuration problem of the server, said as such (503). */
import { SecretsKeyMissing, SecretUnreadable } from '../../connectors/source-secrets';
import { HttpError } from '../errors';

export function sourceSecretError(err: unknown): unknown {
  if (err instanceof SecretsKeyMissing) throw new HttpError(503, 'secrets_key_missing', err.message);
  if (err instanceof SecretUnreadable) throw new HttpError(503, 'secret_unreadable', err.message);
  return err;
}
