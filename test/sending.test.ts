/** Sending through the real SendGrid and Twilio clients: retries, rejections, consent, idempotency. */
import { createActivities } from '../activities';
import { outboxProvider } from '../activities/providers/outbox';
import { sendgridProvider } from '../activities/providers/sendgrid';
import { twilioProvider } from '../activities/providers/twilio';
import type { OutgoingEmail, OutgoingPush, OutgoingSms } from '../activities/providers/types';
import { suppress } from '../db/messages';
import type { FlowInput } from '../flows/schema';
import { Harness, TEST_LINKS, TWILIO_SID } from './helpers/harness';

let h: Harness;

const twoEmails: FlowInput = {
  name: 'Two emails',
  status: 'live',
  trigger: { event: 'Signed Up' },
  steps: [
    { id: 'welcome', type: 'email', subject: 'Welcome {{ contact.firstName }}', html: '<p>Hello</p>', text: 'Hello' },
    { id: 'wait', type: 'delay', duration: '2 days' },
    { id: 'tips', type: 'email', subject: 'Tips', html: '<p>Tips</p>' },
  ],
};

const smsFlow: FlowInput = {
  name: 'SMS',
  status: 'live',
  trigger: { event: 'Cart Reminder Requested' },
  steps: [
    {
      id: 'text',
      type: 'sms',
      body: 'Hi {{ contact.firstName }}, your cart ({{ event.properties.total }} EUR) is waiting',
    },
  ],
};

beforeAll(async () => {
  h = await Harness.start();
  await h.putFlow('two-emails', twoEmails);
  await h.putFlow('sms', smsFlow);
});
afterAll(() => h?.stop());
beforeEach(() => {
  h.sendgrid.reset();
  h.twilio.reset();
});

const signUp = async (userId: string, traits: Record<string, unknown>) => {
  await h.identify(userId, traits);
  await h.track({ userId, event: 'Signed Up', messageId: `signup-${userId}` });
  return h.result('two-emails', userId);
};
const messageRows = async (contactId: string) =>
  (await h.http('get', `/v1/contacts/${contactId}/messages`)).body.messages as {
    stepId: string;
    status: string;
    reason: string | null;
    attempts: number;
    provider: string;
    providerMessageId: string;
  }[];

test('SendGrid throttling (429) and outages (5xx) are retried with backoff; the email is sent once', async () => {
  h.sendgrid.enqueue(
    { status: 429, body: { errors: [{ message: 'too many requests' }] } },
    { status: 503, body: { errors: [{ message: 'unavailable' }] } },
  );

  const result = await signUp('retry', { email: 'retry@example.com', firstName: 'Rita' });

  expect(result.status).toBe('completed');
  expect(h.sendgrid.requests.map((r) => r.status)).toEqual([429, 503, 202, 202]);
  expect(h.sendgrid.emails.map((e) => e.subject)).toEqual(['Welcome Rita', 'Tips']);
  expect(h.sendgrid.emails[0].text).toBe('Hello');
  const welcome = (await messageRows('retry')).find((m) => m.stepId === 'welcome')!;
  expect(welcome).toMatchObject({ status: 'sent', attempts: 3, providerMessageId: 'sg-3' });
});

test('a permanent rejection (400) fails that step without retry, is recorded, and the journey goes on', async () => {
  h.sendgrid.enqueue({
    status: 400,
    body: { errors: [{ message: 'Does not contain a valid address.', field: 'personalizations.0.to' }] },
  });

  const result = await signUp('rejected', { email: 'rejected@example.com' });

  expect(h.sendgrid.requests.filter((r) => r.status === 400)).toHaveLength(1);
  expect(result.steps.find((s) => s.stepId === 'welcome')!.outcome).toMatch(/^failed \(ProviderRejected: SendGrid 400/);
  expect(h.sendgrid.emails.map((e) => e.subject)).toEqual(['Tips']);
  const welcome = (await messageRows('rejected')).find((m) => m.stepId === 'welcome')!;
  expect(welcome).toMatchObject({ status: 'failed', attempts: 1, reason: expect.stringContaining('valid address') });
});

test('no email goes to a suppressed address; the step is recorded as skipped', async () => {
  await suppress(h.db, 'email', 'Gone@Example.com', 'unsubscribed');

  const result = await signUp('suppressed', { email: 'gone@example.com' });

  expect(result.status).toBe('completed');
  expect(h.sendgrid.requests).toEqual([]);
  expect((await messageRows('suppressed')).map((m) => [m.stepId, m.status, m.reason])).toEqual([
    ['tips', 'skipped', 'address is suppressed'],
    ['welcome', 'skipped', 'address is suppressed'],
  ]);
});

test('a contact without an email address: skipped with the reason, nothing sent', async () => {
  await signUp('no-address', { firstName: 'Nobody' });
  expect(h.sendgrid.requests).toEqual([]);
  expect((await messageRows('no-address'))[0]).toMatchObject({
    status: 'skipped',
    reason: 'contact has no email address',
  });
});

test('SMS goes through the real Twilio client, form-encoded, with account auth', async () => {
  await h.identify('texted', { phone: '+33611111111', firstName: 'Tex' });
  await h.http('put', '/v1/contacts/texted/consent/sms').send({ status: 'subscribed', source: 'test' }); // marketing SMS need an opt-in
  await h.track({ userId: 'texted', event: 'Cart Reminder Requested', properties: { total: 42 } });
  await h.result('sms', 'texted');

  expect(h.twilio.messages).toEqual([
    {
      accountSid: TWILIO_SID,
      to: '+33611111111',
      from: '+15550000000',
      body: 'Hi Tex, your cart (42 EUR) is waiting',
      authorization: `Basic ${Buffer.from(`${TWILIO_SID}:twilio-token`).toString('base64')}`,
    },
  ]);
  expect((await messageRows('texted'))[0]).toMatchObject({
    provider: 'twilio',
    status: 'sent',
    providerMessageId: expect.stringMatching(/^SM/),
  });
});

test('an invalid phone number (Twilio 400, error 21211) fails the step without retry', async () => {
  h.twilio.enqueue({
    status: 400,
    body: { code: 21211, message: "The 'To' number is not a valid phone number.", status: 400 },
  });
  await h.identify('bad-phone', { phone: '+1000' });
  await h.http('put', '/v1/contacts/bad-phone/consent/sms').send({ status: 'subscribed', source: 'test' });
  await h.track({ userId: 'bad-phone', event: 'Cart Reminder Requested', properties: { total: 1 } });
  const result = await h.result('sms', 'bad-phone');

  expect(h.twilio.requests).toHaveLength(1);
  expect(result.steps[0].outcome).toMatch(/21211/);
  expect((await messageRows('bad-phone'))[0]).toMatchObject({
    status: 'failed',
    reason: expect.stringContaining('21211'),
  });
});

describe('activities called directly (as Temporal retries them)', () => {
  const request = (runId: string) => ({
    journey: {
      runId,
      workflowId: `journey:direct:${runId}`,
      flowId: 'direct',
      flowVersion: 1,
      contactId: 'direct',
      startedAt: new Date().toISOString(),
    },
    step: { id: 'mail', type: 'email' as const, subject: 'Once', html: '<p>once</p>', transactional: false },
    trigger: { id: 1, messageId: 'm', name: 'X', properties: {}, timestamp: new Date().toISOString() },
    exits: [],
    sentMessages: {},
    now: Date.now(),
    rules: { quietHours: null, smartSendingHours: null },
  });

  test('a retried send after the provider accepted does not send again', async () => {
    await h.identify('direct', { email: 'direct@example.com' });
    const activities = createActivities({
      db: h.db,
      email: sendgridProvider({ apiKey: 'SG.k', baseUrl: h.sendgrid.url }),
      sms: twilioProvider({ accountSid: TWILIO_SID, authToken: 't', from: '+1', baseUrl: h.twilio.url }),
      push: outboxProvider<OutgoingPush>(),
      emailFrom: 'shop@example.com',
      links: TEST_LINKS,
    });

    const first = await activities.sendEmail(request('run-a'));
    const retry = await activities.sendEmail(request('run-a'));

    expect(h.sendgrid.emails).toHaveLength(1);
    expect(retry).toEqual(first);
  });

  test('without credentials messages land in the outbox, listed by the API with their content', async () => {
    const activities = createActivities({
      db: h.db,
      email: outboxProvider<OutgoingEmail>(),
      sms: outboxProvider<OutgoingSms>(),
      push: outboxProvider<OutgoingPush>(),
      emailFrom: 'shop@example.com',
      links: TEST_LINKS,
    });
    await activities.sendEmail(request('run-outbox'));

    expect(h.sendgrid.requests).toEqual([]);
    const outbox = (await h.http('get', '/v1/outbox')).body.messages;
    expect(outbox[0]).toMatchObject({
      provider: 'outbox',
      status: 'sent',
      recipient: 'direct@example.com',
      content: { subject: 'Once', html: '<p>once</p>' },
    });
  });
});
