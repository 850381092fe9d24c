import type { OutgoingEmail } from '../../activities/providers/types';
import { FakeHttpServer } from './fake-http';

/** What the fake received: the message we composed, plus what the request carried. */
export type SentEmail = Required<Pick<OutgoingEmail, 'to' | 'from' | 'subject' | 'html' | 'customArgs' | 'headers'>> &
  Pick<OutgoingEmail, 'text'> & { authorization: string; at: number; fromName?: string };

interface MailSendBody {
  personalizations: { to: { email: string }[]; custom_args?: Record<string, string> }[];
  from: { email: string; name?: string };
  subject: string;
  content: { type: string; value: string }[];
  custom_args?: Record<string, string>;
  headers?: Record<string, string>;
}

/** SendGrid's v3 mail send: 202, empty body, an X-Message-Id header. */
export class FakeSendGrid extends FakeHttpServer {
  constructor() {
    super((_req, n) => ({ status: 202, headers: { 'x-message-id': `sg-${n}` } }));
  }

  /** Accepted mail sends only (status 202 answered), in the order received. */
  get emails(): SentEmail[] {
    return this.requests
      .filter((r) => r.method === 'POST' && r.path === '/v3/mail/send' && r.status === 202)
      .map((r) => {
        const body = JSON.parse(r.body) as MailSendBody;
        const content = (type: string) => body.content.find((c) => c.type === type)?.value;
        return {
          to: body.personalizations[0].to[0].email,
          from: body.from.email,
          ...(body.from.name ? { fromName: body.from.name } : {}),
          subject: body.subject,
          html: content('text/html') ?? '',
          text: content('text/plain'),
          customArgs: { ...body.custom_args, ...body.personalizations[0].custom_args },
          headers: { ...body.headers },
          authorization: String(r.headers.authorization),
          at: r.at,
        };
      });
  }
}

/** One recipient of a mail send, personalizations expanded (campaign batches carry up to 1,000). */
export interface Delivery {
  to: string;
  subject: string;
  html: string;
  customArgs: Record<string, string>;
  headers: Record<string, string>;
  /** Which request (index among accepted mail sends) carried it, and when the fake saw it (wall clock). */
  request: number;
  at: number;
}

interface BatchBody {
  personalizations: {
    to: { email: string }[];
    subject?: string;
    custom_args?: Record<string, string>;
    headers?: Record<string, string>;
    substitutions?: Record<string, string>;
  }[];
  subject?: string;
  content: { type: string; value: string }[];
  custom_args?: Record<string, string>;
  headers?: Record<string, string>;
}

/** Every recipient of the accepted mail sends, with substitutions applied as SendGrid would. */
export function deliveriesOf(fake: FakeSendGrid): Delivery[] {
  return fake.requests
    .filter((r) => r.method === 'POST' && r.path === '/v3/mail/send' && r.status === 202)
    .flatMap((r, request) => {
      const body = JSON.parse(r.body) as BatchBody;
      const html = body.content.find((c) => c.type === 'text/html')?.value ?? '';
      return body.personalizations.map((p) => ({
        to: p.to[0].email,
        subject: p.subject ?? body.subject ?? '',
        html: Object.entries(p.substitutions ?? {}).reduce((t, [k, v]) => t.split(k).join(v), html),
        customArgs: { ...body.custom_args, ...p.custom_args },
        headers: { ...body.headers, ...p.headers },
        request,
        at: r.at,
      }));
    });
}
