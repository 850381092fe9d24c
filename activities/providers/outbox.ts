import { randomUUID } from 'node:crypto';
import type { Provider } from './types';

/**
 * Without provider credentials messages stay in the local outbox: the message row (with its
 * rendered content) is the delivery, listed by `GET /v1/outbox`. Lets a new user run every
 * flow without accounts.
 */
export function outboxProvider<M>(): Provider<M> {
  return { name: 'outbox', send: async () => ({ providerMessageId: `outbox-${randomUUID()}` }) };
}
