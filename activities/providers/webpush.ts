import type { Agent } from 'node:https';
import webpush from 'web-push';
import { PROVIDER_TIMEOUT_MS, ProviderError, type PushProvider } from './types';

/**
 * Web push through `web-push` (VAPID). Each subscription is one request to its push service;
 * 404/410 mean the browser dropped it: reported as gone, not as a failure.
 */
export function webPushProvider(opts: {
  publicKey: string;
  privateKey: string;
  subject: string /** Tests: trust a local push service's certificate. */;
  agent?: Agent /** Per subscription request; default 10 s. */;
  timeoutMs?: number;
}): PushProvider {
  const timeout = opts.timeoutMs ?? Math.min(10_000, PROVIDER_TIMEOUT_MS);
  const vapidDetails = { subject: opts.subject, publicKey: opts.publicKey, privateKey: opts.privateKey };
  return {
    name: 'webpush',
    async send(push) {
      const gone: string[] = [];
      let delivered = 0;
      let lastError: ProviderError | undefined;
      for (const subscription of push.subscriptions) {
        try {
          await webpush.sendNotification(subscription, push.payload, {
            vapidDetails,
            TTL: 24 * 3600,
            urgency: 'normal',
            timeout,
            ...(opts.agent ? { agent: opts.agent } : {}),
          });
          delivered += 1;
        } catch (err) {
          const status = (err as { statusCode?: number }).statusCode;
          if (status === 404 || status === 410) gone.push(subscription.endpoint);
          else
            lastError =
              status === undefined
                ? ProviderError.fromNetwork('Push service', err)
                : ProviderError.fromStatus('Push service', status, (err as Error).message);
        }
      }
      // Push is best effort per subscription: reported unknown only when no subscription certainly took it.
      if (delivered === 0 && lastError)
        throw new ProviderError(
          lastError.message,
          lastError.retryable,
          lastError.status,
          { providerMessageId: '', gone },
          lastError.ambiguous,
        );
      if (delivered === 0)
        throw new ProviderError('Push service 410: every subscription of this contact is gone', false, 410, {
          providerMessageId: '',
          gone,
        });
      return { providerMessageId: `webpush:${delivered}/${push.subscriptions.length}`, gone };
    },
  };
}
