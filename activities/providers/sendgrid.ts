import sendgridClient from '@sendgrid/client';
import sendgridMail from '@sendgrid/mail';
import { PROVIDER_TIMEOUT_MS, ProviderError, type EmailProvider } from './types';

/** SendGrid's limit of personalizations per mail send. */
export const SENDGRID_MAX_PERSONALIZATIONS = 1_000;

// The typings declare only the packages' singletons; the classes hang off them at run time.
// Own instances keep each provider's API key and base URL apart.
const { Client } = sendgridClient as unknown as { Client: new () => typeof sendgridClient };
const { MailService } = sendgridMail as unknown as { MailService: new () => typeof sendgridMail };

/** The real `@sendgrid/mail` client; `baseUrl` points it at another host (tests use a fake). */
export function sendgridProvider(opts: {
  apiKey: string;
  baseUrl?: string /** Per request (axios `timeout`); default PROVIDER_TIMEOUT_MS. */;
  timeoutMs?: number;
}): EmailProvider {
  const client = new Client();
  client.setApiKey(opts.apiKey); // resets the base URL: set it afterwards
  if (opts.baseUrl) client.setDefaultRequest('baseUrl', opts.baseUrl);
  // The client waits forever by default: a hung call would outlive the activity attempt.
  // (axios' `timeout`; the typings only list request fields.)
  (client as unknown as { setDefaultRequest(key: string, value: unknown): void }).setDefaultRequest(
    'timeout',
    opts.timeoutMs ?? PROVIDER_TIMEOUT_MS,
  );
  const mail = new MailService();
  mail.setClient(client);
  return {
    name: 'sendgrid',
    async send(email) {
      try {
        const [response] = await mail.send({
          to: email.to,
          from: email.from,
          subject: email.subject,
          html: email.html,
          ...(email.text ? { text: email.text } : {}),
          customArgs: email.customArgs,
          ...(email.headers ? { headers: email.headers } : {}),
        });
        const id = response.headers['x-message-id'];
        return { providerMessageId: typeof id === 'string' && id ? id : `sendgrid-${response.statusCode}` };
      } catch (err) {
        throw sendgridError(err);
      }
    },
    async sendBatch(batch) {
      if (batch.personalizations.length > SENDGRID_MAX_PERSONALIZATIONS)
        throw new Error(`a SendGrid batch takes at most ${SENDGRID_MAX_PERSONALIZATIONS} personalizations`);
      try {
        const [response] = await mail.send({
          from: batch.from,
          html: batch.html,
          ...(batch.text ? { text: batch.text } : {}),
          // Our tags are already wrapped (substitutionTag): no wrapping by the client.
          substitutionWrappers: ['', ''],
          personalizations: batch.personalizations.map((p) => ({
            to: p.to,
            subject: p.subject,
            customArgs: p.customArgs,
            ...(p.headers ? { headers: p.headers } : {}),
            ...(p.substitutions ? { substitutions: p.substitutions } : {}),
          })),
        });
        const id = response.headers['x-message-id'];
        return { providerMessageId: typeof id === 'string' && id ? id : `sendgrid-${response.statusCode}` };
      } catch (err) {
        throw sendgridError(err);
      }
    },
  };
}

function sendgridError(err: unknown): ProviderError {
  const e = err as { code?: unknown; message: string; response?: { body?: unknown } };
  if (e.response && typeof e.code === 'number') {
    return ProviderError.fromStatus('SendGrid', e.code, JSON.stringify(e.response.body ?? e.message).slice(0, 500));
  }
  // SendGrid has no API to list what it accepted: an ambiguous failure stays unknown.
  return ProviderError.fromNetwork('SendGrid', err);
}
