import { FakeHttpServer } from './fake-http';

export interface SentSms {
  accountSid: string;
  to: string;
  from: string;
  body: string;
  authorization: string;
}

/** Twilio's Messages.json: form-encoded POST, 201 with the message resource. */
export class FakeTwilio extends FakeHttpServer {
  constructor() {
    super((req, n) => {
      const form = new URLSearchParams(req.body);
      return { status: 201, body: { sid: `SM${String(n).padStart(32, '0')}`, status: 'queued', to: form.get('To'), from: form.get('From'), body: form.get('Body') } };
    });
  }

  get messages(): SentSms[] {
    return this.requests
      .map((r) => ({ r, match: /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/.exec(r.path) }))
      .filter(({ r, match }) => r.method === 'POST' && match)
      .map(({ r, match }) => {
        const form = new URLSearchParams(r.body);
        return { accountSid: match![1], to: form.get('To') ?? '', from: form.get('From') ?? '', body: form.get('Body') ?? '', authorization: String(r.headers.authorization) };
      });
  }
}
