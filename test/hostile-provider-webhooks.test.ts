/**
 * Hostile, correctly signed SendGrid and Twilio webhooks against the real API, Temporal test
 * server and Postgres: a SendGrid event with a timestamp of 1e300 (or a NUL) among good ones,
 * Twilio status forms with a repeated, missing or unstorable field. The good events are
 * recorded and the bad ones reported each with its path; a bad form is a 400 naming the field;
 * never a 5xx, which the provider would retry.
 */
import { sign } from 'node:crypto';
import supertest from 'supertest';
import twilio from 'twilio';
import type { FlowInput } from '../flows/schema';
import { Harness, SENDGRID_WEBHOOK_KEYS, TEST_LINKS } from './helpers/harness';

let h: Harness;
let messageId: string;

beforeAll(async () => {
  h = await Harness.start();
  const flow: FlowInput = {
    name: 'Hostile mail',
    status: 'live',
    trigger: { event: 'Hostile Mail' },
    smartSending: { enabled: false },
    steps: [{ id: 'mail', type: 'email', subject: 'Hello', html: '<p>Hi</p>', transactional: true }],
  };
  await h.putFlow('hostile-mail', flow);
  await h.identify('hostile-mailed', { email: 'hostile-mailed@example.com' });
  await h.track({ userId: 'hostile-mailed', event: 'Hostile Mail' });
  await h.result('hostile-mail', 'hostile-mailed');
  messageId = (await h.http('get', '/v1/contacts/hostile-mailed/messages')).body.messages[0].id;
});
afterAll(() => h?.stop());
afterEach(async () => {
  expect((await supertest(h.app).get('/health')).status).toBe(200);
});

function postSendgrid(events: unknown[]) {
  const body = JSON.stringify(events);
  const timestamp = String(Math.floor(Date.now() / 1000));
  const signature = sign('sha256', Buffer.from(timestamp + body), SENDGRID_WEBHOOK_KEYS.privateKey).toString('base64');
  return supertest(h.app)
    .post('/v1/webhooks/sendgrid')
    .set('content-type', 'application/json')
    .set('X-Twilio-Email-Event-Webhook-Signature', signature)
    .set('X-Twilio-Email-Event-Webhook-Timestamp', timestamp)
    .send(body);
}
const sgEvent = (event: string, extra: Record<string, unknown> = {}) => ({
  email: 'hostile-mailed@example.com',
  timestamp: Math.floor(Date.now() / 1000),
  event,
  sg_event_id: `${event}-${Math.random().toString(36).slice(2)}`,
  parcours_message_id: messageId,
  ...extra,
});
const historyOf = async () =>
  ((await h.http('get', '/v1/contacts/hostile-mailed/messages')).body.messages[0].events as { type: string }[]).map(
    (e) => e.type,
  );

describe('SendGrid', () => {
  test('a timestamp of 1e300 is reported with its index; the valid events beside it are recorded', async () => {
    const res = await postSendgrid([sgEvent('processed'), sgEvent('delivered', { timestamp: 1e300 }), sgEvent('open')]);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ received: 3, recorded: 2, invalid: 1 });
    expect(res.body.issues).toEqual([{ path: [1, 'timestamp'], message: expect.stringMatching(/years 1 and 9999/) }]);
    expect(await historyOf()).toEqual(expect.arrayContaining(['processed', 'open']));
    expect(await historyOf()).not.toContain('delivered');
  });

  test('a NUL in sg_event_id or a missing event is reported per event; the others are recorded', async () => {
    const res = await postSendgrid([
      sgEvent('click', { sg_event_id: 'click\u0000x', url: 'https://shop.example.com/' }),
      { timestamp: 1, sg_event_id: 'no-event' },
      'not an object',
      sgEvent('delivered', { response: '250 OK' }),
    ]);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ received: 4, recorded: 1, invalid: 3 });
    expect(res.body.issues.map((i: { path: unknown[] }) => i.path)).toEqual([[0, 'sg_event_id'], [1, 'event'], [2]]);
    expect(await historyOf()).toContain('delivered');
    expect(await historyOf()).not.toContain('click');
  });
});

describe('Twilio status callbacks', () => {
  const path = '/v1/webhooks/twilio/status';
  /** Signed as Twilio signs a form (a repeated field signed as Twilio signs it: every value, sorted). */
  const signed = (fields: [string, string][]) => {
    const params: Record<string, string | string[]> = {};
    for (const [k, v] of fields) params[k] = k in params ? [params[k] as string, v].flat() : v;
    const signature = twilio.getExpectedTwilioSignature(
      'twilio-token',
      `${TEST_LINKS.publicUrl}${path}`,
      params as Record<string, string>,
    );
    return supertest(h.app)
      .post(path)
      .type('form')
      .set('X-Twilio-Signature', signature)
      .send(new URLSearchParams(fields).toString());
  };

  test.each([
    [
      'a repeated MessageSid',
      [
        ['MessageSid', 'SM1'],
        ['MessageSid', 'SM2'],
        ['MessageStatus', 'sent'],
      ],
      'MessageSid',
    ],
    ['no MessageStatus', [['MessageSid', 'SM1']], 'MessageStatus'],
    [
      'a NUL in MessageSid',
      [
        ['MessageSid', 'SM\u00001'],
        ['MessageStatus', 'sent'],
      ],
      'MessageSid',
    ],
    [
      'an ErrorCode of 100 characters',
      [
        ['MessageSid', 'SM1'],
        ['MessageStatus', 'failed'],
        ['ErrorCode', '3'.repeat(100)],
      ],
      'ErrorCode',
    ],
    [
      'a MessageSid of 10,000 characters',
      [
        ['MessageSid', 'S'.repeat(10_000)],
        ['MessageStatus', 'sent'],
      ],
      'MessageSid',
    ],
  ] as [string, [string, string][], string][])('%s is a 400 naming the field', async (_what, fields, field) => {
    const res = await signed(fields);
    expect(res.status).toBe(400);
    expect(res.body.error.issues).toEqual([expect.objectContaining({ path: [field] })]);
  });

  test('an inbound SMS with a repeated Body (an array once parsed) is a 400 naming Body', async () => {
    const inbound = '/v1/webhooks/twilio/inbound';
    const params = { From: '+33611111111', Body: ['STOP', 'START'] };
    const res = await supertest(h.app)
      .post(inbound)
      .type('form')
      .set(
        'X-Twilio-Signature',
        twilio.getExpectedTwilioSignature(
          'twilio-token',
          `${TEST_LINKS.publicUrl}${inbound}`,
          params as unknown as Record<string, string>,
        ),
      )
      .send('From=%2B33611111111&Body=STOP&Body=START');
    expect(res.status).toBe(400);
    expect(res.body.error.issues).toEqual([expect.objectContaining({ path: ['Body'] })]);
  });

  test('a valid callback for an unknown message is still answered', async () => {
    const res = await signed([
      ['MessageSid', 'SMunknown'],
      ['MessageStatus', 'delivered'],
    ]);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ outcome: 'unknown_message' });
  });
});
