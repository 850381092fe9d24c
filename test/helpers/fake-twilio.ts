import { FakeHttpServer, type RecordedRequest } from './fake-http';

export interface SentSms {
  accountSid: string;
  to: string;
  from: string;
  body: string;
  authorization: string;
}

const MESSAGES_PATH = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json(?:\?(.*))?$/;

/**
 * Twilio's Messages.json: form-encoded POST, 201 with the message resource; GET lists the
 * messages it accepted, filtered by To, From and DateSent> (as Twilio's list API does).
 */
export class FakeTwilio extends FakeHttpServer {
  /** A slow provider: each accepted message is answered this long after it arrived (0: at once). */
  answerDelayMs = 0;

  constructor() {
    super((req, n) => {
      if (req.method === 'GET') return { status: 200, body: this.list(req) };
      const form = new URLSearchParams(req.body);
      return { status: 201, body: resource(sidOf(n), form, req.at), delayMs: this.answerDelayMs || undefined };
    });
  }

  /** When each accepted message arrived (wall clock), in order. */
  get arrivals(): number[] {
    return this.accepted().map(({ r }) => r.at);
  }

  /** Accepted message creations (201), in the order received: what recipients get. */
  get messages(): SentSms[] {
    return this.accepted().map(({ r, match }) => {
      const form = new URLSearchParams(r.body);
      return {
        accountSid: match[1],
        to: form.get('To') ?? '',
        from: form.get('From') ?? '',
        body: form.get('Body') ?? '',
        authorization: String(r.headers.authorization),
      };
    });
  }

  /** List requests received (Parcours asking whether a message went out). */
  get lookups(): URLSearchParams[] {
    return this.requests
      .filter((r) => r.method === 'GET')
      .map((r) => new URLSearchParams(MESSAGES_PATH.exec(r.path)?.[2] ?? ''));
  }

  private accepted() {
    return this.requests
      .map((r) => ({ r, match: MESSAGES_PATH.exec(r.path) }))
      .filter(
        (x): x is { r: RecordedRequest; match: RegExpExecArray } =>
          x.r.method === 'POST' && x.match !== null && x.r.status === 201,
      );
  }

  private list(req: RecordedRequest) {
    const query = new URLSearchParams(MESSAGES_PATH.exec(req.path)?.[2] ?? '');
    const to = query.get('To');
    const from = query.get('From');
    const after = query.get('DateSent>');
    const messages = this.accepted()
      .map(({ r }) => ({ r, form: new URLSearchParams(r.body), n: this.requests.indexOf(r) + 1 }))
      .filter(
        ({ r, form }) =>
          (!to || form.get('To') === to) &&
          (!from || form.get('From') === from) &&
          (!after || r.at >= Date.parse(after)),
      )
      .map(({ r, form, n }) => resource(sidOf(n), form, r.at));
    return {
      messages,
      page: 0,
      page_size: 50,
      first_page_uri: req.path,
      next_page_uri: null,
      previous_page_uri: null,
      uri: req.path,
      start: 0,
      end: messages.length,
    };
  }
}

const sidOf = (n: number) => `SM${String(n).padStart(32, '0')}`;

function resource(sid: string, form: URLSearchParams, at: number) {
  const date = new Date(at).toUTCString().replace('GMT', '+0000');
  return {
    sid,
    status: 'queued',
    to: form.get('To'),
    from: form.get('From'),
    body: form.get('Body'),
    date_created: date,
    date_sent: date,
  };
}
