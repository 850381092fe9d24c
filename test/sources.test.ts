/**
 * Generic webhook sources against the real API, Temporal test server and Postgres: a Typeform
 * submission (Typeform's documented form_response, signed as Typeform signs it) enters a flow
 * that emails the respondent; an Eventbrite order.placed, which carries only api_url, is
 * completed from a fake Eventbrite API on 127.0.0.1 with the source's token before mapping.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import supertest from 'supertest';
import type { FlowInput } from '../flows/schema';
import { waitFor } from './helpers/fake-http';
import { EVENTBRITE_TOKEN, FakeEventbrite } from './helpers/fake-eventbrite';
import { API_KEY, Harness } from './helpers/harness';

type Json = Record<string, unknown>;
const fixture = (name: string) => readFileSync(path.join(__dirname, 'fixtures', name), 'utf8');
/**
 * Typeform's sample, dated from the clock at start: its own date, in 2018, would make the
 * submission history (it would start no flow), and a date before the flows below go live would
 * start none either. An hour after the start is after them (a sender's clock ahead is accepted).
 */
const SUBMITTED_AT = new Date(Math.floor(Date.now() / 1000) * 1000 + 3_600_000).toISOString().replace('.000Z', 'Z');
const TYPEFORM = fixture('typeform/form-response.json').replace('2018-01-18T18:17:02Z', SUBMITTED_AT);
const TYPEFORM_SECRET = 'typeform-webhook-secret-42';
const EVENTBRITE_URL_TOKEN = 'src_tok_5b1f0e8a9c7d4e2f8a6b3c1d';

let h: Harness;
let eventbrite: FakeEventbrite;

beforeAll(async () => {
  h = await Harness.start();
  eventbrite = await new FakeEventbrite().start();
  eventbrite.orders.set('1234567890', fixture('eventbrite/order.json'));
});
afterAll(async () => {
  await eventbrite?.stop();
  await h?.stop();
});
beforeEach(() => {
  h.sendgrid.reset();
  eventbrite.requests.length = 0;
});

const typeformSource = {
  name: 'Typeform: city survey',
  auth: { type: 'hmac', header: 'Typeform-Signature', prefix: 'sha256=', encoding: 'base64', secret: TYPEFORM_SECRET },
  mapping: {
    userId: 'form_response.hidden.user_id',
    email: "form_response.answers[type='email'].email",
    event: "'Form Submitted'",
    properties:
      "{ 'form_id': form_response.form_id, 'form_title': form_response.definition.title, 'score': form_response.calculated.score, 'favorite_city': form_response.answers[field.id='k6TP9oLGgHjl'].choice.label }",
    traits: "{ 'firstName': form_response.answers[field.id='JwWggjAKtOkA'].text }",
    timestamp: 'form_response.submitted_at',
    deliveryId: 'event_id',
  },
};

const eventbriteSource = () => ({
  name: 'Eventbrite orders',
  auth: { type: 'token', token: EVENTBRITE_URL_TOKEN },
  ignoreWhen: "config.action != 'order.placed'",
  fetch: {
    url: 'api_url',
    urlPrefix: `${eventbrite.url}/v3/`,
    bearerToken: EVENTBRITE_TOKEN,
    timeoutMs: 500,
    maxBytes: 100_000,
  },
  mapping: {
    email: '$fetched.email',
    event: "'Order Completed'",
    properties:
      "{ 'order_id': $fetched.id, 'event_id': $fetched.event_id, 'total': $number($fetched.costs.gross.major_value), 'currency': $fetched.costs.gross.currency }",
    traits: "{ 'firstName': $fetched.first_name, 'lastName': $fetched.last_name }",
    timestamp: '$fetched.created',
  },
});

/** Posts like Typeform: the body as bytes, `Typeform-Signature: sha256=<base64 HMAC-SHA256>`. */
function deliverTypeform(body: string, opts: { secret?: string; signature?: string; sourceId?: string } = {}) {
  const signature =
    opts.signature ??
    `sha256=${createHmac('sha256', opts.secret ?? TYPEFORM_SECRET)
      .update(Buffer.from(body))
      .digest('base64')}`;
  return supertest(h.app)
    .post(`/v1/sources/${opts.sourceId ?? 'typeform'}/events`)
    .set('Content-Type', 'application/json')
    .set('Typeform-Signature', signature)
    .send(body);
}

/** Eventbrite's webhook: unsigned, so the source's token is in the URL it was given. */
function deliverEventbrite(orderId: string, opts: { token?: string; apiUrl?: string; action?: string } = {}) {
  const payload = JSON.parse(fixture('eventbrite/order-placed.json')) as Json & { config: Json };
  payload.api_url = opts.apiUrl ?? `${eventbrite.url}/v3/orders/${orderId}/`;
  if (opts.action) payload.config.action = opts.action;
  return supertest(h.app)
    .post(`/v1/sources/eventbrite/events?token=${encodeURIComponent(opts.token ?? EVENTBRITE_URL_TOKEN)}`)
    .set('Content-Type', 'application/json')
    .send(JSON.stringify(payload));
}

const typeformWith = (change: (payload: Json & { form_response: Json & { answers: Json[] } }) => void): string => {
  const payload = JSON.parse(TYPEFORM) as Json & { form_response: Json & { answers: Json[] } };
  change(payload);
  return JSON.stringify(payload);
};

const countEvents = async () => Number((await h.db.query<{ n: string }>('SELECT count(*) AS n FROM events')).rows[0].n);
const eventsOf = async (contactId: string) =>
  (
    await h.db.query<{ name: string; message_id: string; occurred_at: Date; properties: Json; context: Json }>(
      'SELECT name, message_id, occurred_at, properties, context FROM events WHERE contact_id = $1 ORDER BY id',
      [contactId],
    )
  ).rows;
const contact = async (id: string) =>
  (await h.db.query<{ email: string | null; traits: Json }>('SELECT email, traits FROM contacts WHERE id = $1', [id]))
    .rows[0];

const thankRespondents: FlowInput = {
  name: 'Thank survey respondents',
  status: 'live',
  trigger: { event: 'Form Submitted' },
  smartSending: { enabled: false },
  steps: [
    {
      id: 'thanks',
      type: 'email',
      subject: 'Thanks {{ contact.firstName }}',
      html: '<p>You picked {{ event.properties.favorite_city }}.</p>',
    },
  ],
};

describe('PUT /v1/sources/:id', () => {
  test('creates a source, and reads it back without its secret', async () => {
    const created = await h.http('put', '/v1/sources/typeform').send(typeformSource);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      id: 'typeform',
      receiveUrl: '/v1/sources/typeform/events',
      auth: { type: 'hmac', header: 'Typeform-Signature', secret: '(set)' },
    });
    const read = await h.http('get', '/v1/sources/typeform');
    expect(read.status).toBe(200);
    expect(JSON.stringify(read.body)).not.toContain(TYPEFORM_SECRET);
    expect((await h.http('put', '/v1/sources/typeform').send(typeformSource)).status).toBe(200);
    const listed = await h.http('get', '/v1/sources');
    expect(listed.body.sources.map((s: { id: string }) => s.id)).toContain('typeform');
    expect(JSON.stringify(listed.body)).not.toContain(TYPEFORM_SECRET);
  });

  test('a deleted source no longer receives', async () => {
    expect((await h.http('put', '/v1/sources/short-lived').send(typeformSource)).status).toBe(201);
    expect((await supertest(h.app).delete('/v1/sources/short-lived')).status).toBe(401);
    expect(
      (await supertest(h.app).delete('/v1/sources/short-lived').set('Authorization', `Bearer ${API_KEY}`)).status,
    ).toBe(204);
    expect((await deliverTypeform(TYPEFORM, { sourceId: 'short-lived' })).status).toBe(404);
  });

  test('needs an admin key', async () => {
    const res = await supertest(h.app).put('/v1/sources/nokey').send(typeformSource);
    expect(res.status).toBe(401);
    expect((await h.db.query("SELECT 1 FROM sources WHERE id = 'nokey'")).rowCount).toBe(0);
  });

  test.each([
    [
      'an invalid expression',
      { ...typeformSource, mapping: { ...typeformSource.mapping, email: 'form_response.answers[type=' } },
      ['mapping', 'email'],
      /not a valid JSONata expression/,
    ],
    [
      'a regular expression',
      { ...typeformSource, mapping: { ...typeformSource.mapping, event: '$match(event_type, /(a+)+$/)[0].match' } },
      ['mapping', 'event'],
      /regular expressions are not allowed/,
    ],
    [
      'no event',
      { ...typeformSource, mapping: { userId: 'form_response.hidden.user_id' } },
      ['mapping', 'event'],
      /.+/,
    ],
    [
      'no contact',
      { ...typeformSource, mapping: { event: "'Form Submitted'" } },
      ['mapping', 'userId'],
      /an event needs a contact/,
    ],
    [
      'a short secret',
      { ...typeformSource, auth: { ...typeformSource.auth, secret: 'short' } },
      ['auth', 'secret'],
      /at least 16/,
    ],
    [
      'an unknown field',
      { ...typeformSource, mapping: { ...typeformSource.mapping, userid: 'x' } },
      ['mapping'],
      /userid/,
    ],
  ])('refuses %s with a 400 naming the path', async (_what, body, expectedPath, message) => {
    const res = await h.http('put', '/v1/sources/bad-source').send(body);
    expect(res.status).toBe(400);
    const issue = (res.body.error.issues as { path: unknown[]; message: string }[]).find(
      (i) => JSON.stringify(i.path) === JSON.stringify(expectedPath),
    );
    expect(issue?.message).toMatch(message);
    expect((await h.db.query("SELECT 1 FROM sources WHERE id = 'bad-source'")).rowCount).toBe(0);
  });
});

describe('Typeform: POST /v1/sources/typeform/events', () => {
  beforeAll(async () => {
    expect((await h.http('put', '/v1/sources/typeform').send(typeformSource)).status).toBeLessThan(300);
    await h.putFlow('thank-respondents', thankRespondents);
  });

  test('a signed submission is stored with its raw payload and enters a flow that emails the respondent', async () => {
    const res = await deliverTypeform(TYPEFORM);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      source: 'typeform',
      stored: {
        event: 'Form Submitted',
        contactId: 'abc123456',
        messageId: 'source:typeform:LtWXD3crgy',
        duplicate: false,
        routing: 'done',
      },
    });

    const result = await h.result('thank-respondents', 'abc123456');
    expect(result.status).toBe('completed');
    await waitFor(() => h.sendgrid.emails.length === 1, 'the thank-you email');
    expect(h.sendgrid.emails[0]).toMatchObject({ to: 'laura@example.com', subject: 'Thanks Laura' });
    expect(h.sendgrid.emails[0].html).toContain('You picked London.');

    const [event] = await eventsOf('abc123456');
    expect(event.properties).toEqual({
      form_id: 'lT4Z3j',
      form_title: 'Webhooks example',
      score: 9,
      favorite_city: 'London',
    });
    expect(event.occurred_at.toISOString()).toBe(SUBMITTED_AT.replace('Z', '.000Z'));
    expect(event.context.raw).toEqual(JSON.parse(TYPEFORM));
    expect(event.context.source).toEqual({ name: 'source', id: 'typeform', deliveryId: 'LtWXD3crgy' });
    expect(await contact('abc123456')).toMatchObject({ email: 'laura@example.com', traits: { firstName: 'Laura' } });
  });

  test('the same delivery twice is stored once, and the respondent is emailed once', async () => {
    const body = typeformWith((p) => {
      p.event_id = 'retry-01';
      p.form_response.hidden = { user_id: 'retry-user' };
    });
    const first = await deliverTypeform(body);
    const second = await deliverTypeform(body);
    expect(first.body.stored).toMatchObject({ duplicate: false });
    expect(second.status).toBe(200);
    expect(second.body.stored).toMatchObject({ duplicate: true, eventId: first.body.stored.eventId });
    expect(await eventsOf('retry-user')).toHaveLength(1);
    await h.result('thank-respondents', 'retry-user');
    await waitFor(() => h.sendgrid.emails.length >= 1, 'the thank-you email');
    expect(h.sendgrid.emails.filter((e) => e.to === 'laura@example.com')).toHaveLength(1);
  });

  test('without a delivery id, a hash of the raw body recognises the retry', async () => {
    await h
      .http('put', '/v1/sources/typeform-nodid')
      .send({ ...typeformSource, mapping: { ...typeformSource.mapping, deliveryId: undefined } });
    const body = typeformWith((p) => {
      p.form_response.hidden = { user_id: 'hash-user' };
    });
    const first = await deliverTypeform(body, { sourceId: 'typeform-nodid' });
    const second = await deliverTypeform(body, { sourceId: 'typeform-nodid' });
    expect(first.body.stored.messageId).toMatch(/^source:typeform-nodid:[0-9a-f]{64}$/);
    expect(second.body.stored).toMatchObject({ duplicate: true, messageId: first.body.stored.messageId });
    expect(await eventsOf('hash-user')).toHaveLength(1);
  });

  test.each([
    ['a wrong secret', { secret: 'not-the-typeform-secret' }],
    ['a tampered signature', { signature: 'sha256=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=' }],
    [
      'a hex digest where base64 is configured',
      { signature: `sha256=${createHmac('sha256', TYPEFORM_SECRET).update('x').digest('hex')}` },
    ],
    ['no prefix', { signature: createHmac('sha256', TYPEFORM_SECRET).update('x').digest('base64') }],
  ])('%s gets 401 and stores nothing', async (_what, opts) => {
    const before = await countEvents();
    const body = typeformWith((p) => {
      p.event_id = 'forged';
      p.form_response.hidden = { user_id: 'forged-user' };
    });
    const res = await deliverTypeform(body, opts);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('invalid_signature');
    expect(await countEvents()).toBe(before);
    expect(await contact('forged-user')).toBeUndefined();
  });

  test('a signed body that was changed in transit gets 401', async () => {
    const signature = `sha256=${createHmac('sha256', TYPEFORM_SECRET).update(Buffer.from(TYPEFORM)).digest('base64')}`;
    const res = await deliverTypeform(TYPEFORM.replace('laura@example.com', 'mallory@example.com'), { signature });
    expect(res.status).toBe(401);
  });

  test('a submission without the email answer or hidden user id is a 400 naming the path, and nothing is stored', async () => {
    const before = await countEvents();
    const body = typeformWith((p) => {
      p.event_id = 'no-contact';
      delete p.form_response.hidden;
      p.form_response.answers = p.form_response.answers.filter((a) => a.type !== 'email');
    });
    const res = await deliverTypeform(body);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'mapping_failed', issues: [{ path: ['mapping', 'userId'] }] });
    expect(res.body.error.message).toContain('form_response.hidden.user_id');
    expect(res.body.error.message).toContain("form_response.answers[type='email'].email");
    expect(await countEvents()).toBe(before);
  });

  test('a field that gives the wrong shape is a 400 naming that field', async () => {
    const res = await deliverTypeform(
      typeformWith((p) => {
        p.event_id = 'two-emails';
        p.form_response.answers.push({ type: 'email', email: 'other@example.com', field: { id: 'x', type: 'email' } });
      }),
    );
    expect(res.status).toBe(400);
    expect(res.body.error.issues).toEqual([
      { path: ['mapping', 'email'], message: 'gave 2 values, expected one string' },
    ]);
  });

  test('an event name the track schema refuses is a 400 naming mapping.event', async () => {
    await h
      .http('put', '/v1/sources/typeform-bad-name')
      .send({ ...typeformSource, mapping: { ...typeformSource.mapping, event: "$pad('x', 300, 'x')" } });
    const res = await deliverTypeform(TYPEFORM, { sourceId: 'typeform-bad-name' });
    expect(res.status).toBe(400);
    expect(res.body.error.issues[0].path).toEqual(['mapping', 'event']);
  });

  test.each([
    ['runs for ever', '($f := function($n) { $n > 0 ? $f($n - 1) + $f($n - 1) : 0 }; $f(40))', /Evaluation timeout/],
    ['allocates a huge string', "$pad('x', 100000000)", /\$pad width/],
    [
      'builds a regular expression at run time',
      '$eval(\'$match("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!", /(a+)+$/)\')',
      /\$eval is not available/,
    ],
  ])('an expression that %s is stopped and answered 400 naming the field', async (_what, event, message) => {
    const id = `typeform-guard-${Math.random().toString(36).slice(2, 8)}`;
    expect(
      (
        await h
          .http('put', `/v1/sources/${id}`)
          .send({ ...typeformSource, mapping: { ...typeformSource.mapping, event } })
      ).status,
    ).toBe(201);
    const before = await countEvents();
    const started = Date.now();
    const res = await deliverTypeform(TYPEFORM, { sourceId: id });
    expect(res.status).toBe(400);
    expect(res.body.error.issues[0].path).toEqual(['mapping', 'event']);
    expect(res.body.error.message).toMatch(message);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await countEvents()).toBe(before);
  });

  test('an unknown source is a 404', async () => {
    expect((await deliverTypeform(TYPEFORM, { sourceId: 'nowhere' })).status).toBe(404);
  });
});

describe('Eventbrite: order.placed carries only api_url', () => {
  beforeAll(async () => {
    expect((await h.http('put', '/v1/sources/eventbrite').send(eventbriteSource())).status).toBeLessThan(300);
  });

  test('the order is fetched with the bearer token, mapped and stored with the webhook and the fetched order', async () => {
    const res = await deliverEventbrite('1234567890');
    expect(res.status).toBe(200);
    expect(res.body.stored).toMatchObject({
      event: 'Order Completed',
      contactId: 'grace@example.com',
      duplicate: false,
    });
    expect(eventbrite.requests).toEqual([
      expect.objectContaining({
        path: '/v3/orders/1234567890/',
        headers: expect.objectContaining({ authorization: `Bearer ${EVENTBRITE_TOKEN}` }),
      }),
    ]);

    const [event] = await eventsOf('grace@example.com');
    expect(event).toMatchObject({
      name: 'Order Completed',
      properties: { order_id: '1234567890', event_id: '717926867587', total: 52.78, currency: 'USD' },
    });
    expect(event.occurred_at.toISOString()).toBe('2026-11-20T15:40:10.000Z');
    expect(event.context.raw).toMatchObject({
      config: { action: 'order.placed' },
      api_url: `${eventbrite.url}/v3/orders/1234567890/`,
    });
    expect(event.context.fetched).toEqual(JSON.parse(fixture('eventbrite/order.json')));
    expect(await contact('grace@example.com')).toMatchObject({
      email: 'grace@example.com',
      traits: { firstName: 'Grace', lastName: 'Hopper' },
    });

    const again = await deliverEventbrite('1234567890');
    expect(again.body.stored).toMatchObject({ duplicate: true });
    expect(await eventsOf('grace@example.com')).toHaveLength(1);
  });

  test("a delivery that ignoreWhen matches (Eventbrite's test ping) is acknowledged: nothing fetched, nothing stored", async () => {
    const before = await countEvents();
    const res = await deliverEventbrite('1234567890', { action: 'test' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ source: 'eventbrite', ignored: "ignoreWhen matched: config.action != 'order.placed'" });
    expect(eventbrite.requests).toHaveLength(0);
    expect(await countEvents()).toBe(before);
  });

  test.each([
    ['a wrong token', 'src_tok_not-the-right-one-000000'],
    ['no token', ''],
  ])('%s gets 401: nothing fetched, nothing stored', async (_what, token) => {
    const before = await countEvents();
    const res = await deliverEventbrite('1234567890', { token });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('invalid_token');
    expect(eventbrite.requests).toHaveLength(0);
    expect(await countEvents()).toBe(before);
  });

  test('an api_url outside the configured prefix is never fetched: 400 naming fetch.url', async () => {
    const res = await deliverEventbrite('1234567890', { apiUrl: `${eventbrite.url}/admin/orders/1234567890/` });
    expect(res.status).toBe(400);
    expect(res.body.error.issues[0].path).toEqual(['fetch', 'url']);
    const elsewhere = await deliverEventbrite('1234567890', { apiUrl: 'http://169.254.169.254/v3/orders/1/' });
    expect(elsewhere.status).toBe(400);
    expect(eventbrite.requests).toHaveLength(0);
  });

  test.each([
    ['does not answer in time', 'slow', /no answer within 500 ms/],
    ['answers more than maxBytes', 'huge', /more than the 100000 bytes/],
    ['does not know the order', 'missing', /answered 404/],
  ])('an API that %s gets 502 (the platform retries) and nothing is stored', async (_what, orderId, message) => {
    const before = await countEvents();
    const started = Date.now();
    const res = await deliverEventbrite(orderId);
    expect(res.status).toBe(502);
    expect(res.body.error).toMatchObject({ code: 'fetch_failed' });
    expect(res.body.error.message).toMatch(message);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(await countEvents()).toBe(before);
  });
});
