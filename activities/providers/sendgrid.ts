import sendgridClient from '@sendgrid/client';
import sendgridMail from '@sendgrid/mail';
import { ProviderError, type EmailProvider } from './types';

// The typings declare only the packages' singletons; the classes hang off them at run time.
// Own instances keep each provider's API key and base URL apart.
const { Client } = sendgridClient as unknown as { Client: new () => typeof sendgridClient };
const { MailService } = sendgridMail as unknown as { MailService: new () => typeof sendgridMail };

/** The real `@sendgrid/mail` client; `baseUrl` points it at another host (tests use a fake). */
export function sendgridProvider(opts: { apiKey: string; baseUrl?: string }): EmailProvider {
  const client = new Client();
  client.setApiKey(opts.apiKey); // resets the base URL: set it afterwards
  if (opts.baseUrl) client.setDefaultRequest('baseUrl', opts.baseUrl);
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
        const e = err as { code?: unknown; message: string; response?: { body?: unknown } };
        if (e.response && typeof e.code === 'number') {
          throw ProviderError.fromStatus('SendGrid', e.code, JSON.stringify(e.response.body ?? e.message).slice(0, 500));
        }
        throw ProviderError.fromStatus('SendGrid', undefined, (err as Error).message);
      }
    },
  };
}
