/**
 * Sends that never repeat, attempt by attempt: the send activities called directly (as Temporal
 * runs and retries them) against a real Postgres and the real SendGrid and Twilio clients pointed
 * at fakes. What the fakes received is what recipients get.
 */
import { writeConsent } from '../db/consent';
import { createActivities } from '../activities';
import { outboxProvider } from '../activities/providers/outbox';
import { sendgridProvider } from '../activities/providers/sendgrid';
import { twilioProvider } from '../activities/providers/twilio';
import { callWebhook } from '../activities/webhook';
import type { OutgoingPush } from '../activities/providers/types';
import type { SendRequest } from '../activities/send-message';
import { upsertContact } from '../db/contacts';
import { listContactMessages, type MessageRecord } from '../db/messages';
import type { StepOf } from '../flows/schema';
import { createTestDatabase, type TestDatabase } from './helpers/database';
import { FakeHttpServer } from './helpers/fake-http';
import { FakeSendGrid } from './helpers/fake-sendgrid';
import { FakeTwilio } from './helpers/fake-twilio';
import { TEST_LINKS, TWILIO_SID } from './helpers/harness';

let database: TestDatabase;
let sendgrid: FakeSendGrid;
let twilio: FakeTwilio;

/** Short claims and provider timeouts so dead attempts and slow providers show in real time. */
const LEASE_MS = 400;
const PROVIDER_TIMEOUT_MS = 300;

beforeAll(async () => {
  database = await createTestDatabase();
  sendgrid = await new FakeSendGrid().start();
  twilio = await new FakeTwilio().start();
  await upsertContact(database.db, 'ada', { email: 'ada@example.com', phone: '+33611111111' });
  // Marketing SMS need an opt-in.
  await writeConsent(database.db, { contactId: 'ada', channel: 'sms', status: 'subscribed', source: 'test' });
});
afterAll(async () => {
  await sendgrid?.stop();
  await twilio?.stop();
  await database?.drop();
});
beforeEach(() => {
  sendgrid.reset();
  twilio.reset();
});

const activities = () =>
  createActivities({
    db: database.db,
    email: sendgridProvider({ apiKey: 'SG.k', baseUrl: sendgrid.url, timeoutMs: PROVIDER_TIMEOUT_MS }),
    sms: twilioProvider({
      accountSid: TWILIO_SID,
      authToken: 't',
      from: '+15550000000',
      baseUrl: twilio.url,
      timeoutMs: PROVIDER_TIMEOUT_MS,
    }),
    push: outboxProvider<OutgoingPush>(),
    emailFrom: 'shop@example.com',
    links: TEST_LINKS,
    sendLeaseMs: LEASE_MS,
  });

let journeys = 0;
/** A fresh journey (workflow id) per test; `runId` and `triggerId` vary what a reset would. */
function journey(opts: { transactional?: boolean } = {}) {
  journeys += 1;
  const workflowId = `journey:claims-${journeys}:ada`;
  const n = journeys;
  const base = (runId: string, triggerId = 100 + n) => ({
    // Run ids are unique in Temporal: a reset or a new entry makes a new one.
    journey: {
      runId: `${runId}-${n}`,
      workflowId,
      flowId: `claims-${journeys}`,
      flowVersion: 1,
      contactId: 'ada',
      startedAt: new Date().toISOString(),
    },
    trigger: {
      id: triggerId,
      messageId: `trigger-${triggerId}`,
      name: 'Checkout Started',
      properties: {},
      timestamp: new Date().toISOString(),
    },
    exits: [],
    sentMessages: {},
    now: Date.now(),
    rules: { quietHours: null, smartSendingHours: null },
  });
  return {
    flowId: `claims-${journeys}`,
    email: (runId = 'run-1', triggerId?: number): SendRequest<StepOf<'email'>> => ({
      ...base(runId, triggerId),
      step: {
        id: 'reminder',
        type: 'email',
        subject: 'Your cart',
        html: '<p>Still there?</p>',
        transactional: opts.transactional ?? false,
      },
    }),
    sms: (runId = 'run-1'): SendRequest<StepOf<'sms'>> => ({
      ...base(runId),
      step: { id: 'text', type: 'sms', body: `Your cart ${journeys}`, transactional: opts.transactional ?? false },
    }),
  };
}

const messagesOf = async (flowId: string): Promise<MessageRecord[]> =>
  (await listContactMessages(database.db, 'ada')).filter((m) => m.flowId === flowId);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Fails the next `times` updates that record a message as sent: the provider took it, our record did not commit. */
async function failNextSentRecord(times = 1): Promise<void> {
  await database.db.query(`
    CREATE SEQUENCE IF NOT EXISTS blip_seq;
    CREATE OR REPLACE FUNCTION blip() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.status = 'sent' AND OLD.status <> 'sent' AND nextval('blip_seq') <= ${times} THEN
        RAISE EXCEPTION 'injected: Postgres went away' USING ERRCODE = '57P01';
      END IF;
      RETURN NEW;
    END $$;
    DROP TRIGGER IF EXISTS blip ON messages;
    CREATE TRIGGER blip BEFORE UPDATE ON messages FOR EACH ROW EXECUTE FUNCTION blip();
    SELECT setval('blip_seq', 1, false);`);
}
afterEach(() => database.db.query('DROP TRIGGER IF EXISTS blip ON messages'));

test('two attempts of one step at once: the provider is called once, the other attempt waits and then returns it', async () => {
  const j = journey();
  const a = activities();
  sendgrid.enqueue({ status: 202, headers: { 'x-message-id': 'sg-slow' }, delayMs: 150 });

  const [first, second] = await Promise.allSettled([a.sendEmail(j.email()), a.sendEmail(j.email())]);
  expect(sendgrid.emails).toHaveLength(1);
  const results = [first, second];
  expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
  expect(refused.reason).toMatchObject({ type: 'MessageClaimed', nonRetryable: false });

  const retry = await a.sendEmail(j.email());
  expect(retry).toMatchObject({ status: 'sent', providerMessageId: 'sg-slow' });
  expect(sendgrid.emails).toHaveLength(1);
});

describe('an attempt dies between the provider accepting and our record (Postgres error)', () => {
  test('marketing: recorded "unknown" once the claim expires, never sent again', async () => {
    const j = journey();
    const a = activities();
    await failNextSentRecord();

    await expect(a.sendEmail(j.email())).rejects.toThrow(/injected/);
    expect(sendgrid.emails).toHaveLength(1);
    // While the dead attempt's claim lasts, a retry waits.
    await expect(a.sendEmail(j.email())).rejects.toMatchObject({ type: 'MessageClaimed' });

    await sleep(LEASE_MS + 100);
    const settled = await a.sendEmail(j.email());
    expect(settled).toMatchObject({
      status: 'skipped',
      unknown: true,
      reason: expect.stringMatching(/^outcome unknown/),
    });
    expect(await a.sendEmail(j.email())).toEqual(settled);
    expect(sendgrid.emails).toHaveLength(1);
    const [message] = await messagesOf(j.flowId);
    expect(message).toMatchObject({
      status: 'unknown',
      attempts: 1,
      reason: expect.stringMatching(/marketing messages are not sent again/),
    });
  });

  test('transactional: sent again once the claim expires (at least once)', async () => {
    const j = journey({ transactional: true });
    const a = activities();
    await failNextSentRecord();

    await expect(a.sendEmail(j.email())).rejects.toThrow(/injected/);
    await sleep(LEASE_MS + 100);
    const again = await a.sendEmail(j.email());

    expect(again).toMatchObject({ status: 'sent' });
    expect(sendgrid.emails).toHaveLength(2);
    expect(await a.sendEmail(j.email())).toEqual(again);
    expect(sendgrid.emails).toHaveLength(2);
    expect(await messagesOf(j.flowId)).toMatchObject([{ status: 'sent', attempts: 2 }]);
  });

  test('SMS: Twilio is asked before sending again, and the message it lists is recorded as sent', async () => {
    const j = journey();
    const a = activities();
    await failNextSentRecord();

    await expect(a.sendSms(j.sms())).rejects.toThrow(/injected/);
    await sleep(LEASE_MS + 100);
    const settled = await a.sendSms(j.sms());

    expect(twilio.messages).toHaveLength(1);
    expect(twilio.lookups.map((q) => [q.get('To'), q.get('From')])).toEqual([['+33611111111', '+15550000000']]);
    expect(settled).toMatchObject({
      status: 'sent',
      provider: 'twilio',
      providerMessageId: 'SM00000000000000000000000000000001',
    });
    expect(await messagesOf(j.flowId)).toMatchObject([
      { status: 'sent', providerMessageId: 'SM00000000000000000000000000000001' },
    ]);
  });
});

describe('a provider slower than our timeout (the answer is lost)', () => {
  test('marketing email: one request, recorded "unknown", retries send nothing', async () => {
    const j = journey();
    const a = activities();
    sendgrid.enqueue({ status: 202, headers: { 'x-message-id': 'sg-late' }, delayMs: 2_000 });

    const outcome = await a.sendEmail(j.email());
    expect(outcome).toMatchObject({ status: 'skipped', unknown: true });
    expect(await a.sendEmail(j.email())).toMatchObject({ status: 'skipped', unknown: true });

    expect(sendgrid.emails).toHaveLength(1);
    expect(await messagesOf(j.flowId)).toMatchObject([
      { status: 'unknown', reason: expect.stringMatching(/timeout/i) },
    ]);
  });

  test('transactional email: sent again on the retry', async () => {
    const j = journey({ transactional: true });
    const a = activities();
    sendgrid.enqueue({ status: 202, delayMs: 2_000 });

    await expect(a.sendEmail(j.email())).rejects.toMatchObject({
      name: 'ProviderError',
      retryable: true,
      ambiguous: true,
    });
    expect(await messagesOf(j.flowId)).toMatchObject([
      { status: 'retrying', reason: expect.stringMatching(/outcome unknown.*sent again/) },
    ]);
    expect(await a.sendEmail(j.email())).toMatchObject({ status: 'sent' });
    expect(sendgrid.emails).toHaveLength(2);
  });

  test('SMS that Twilio took: found by the lookup, not sent again', async () => {
    const j = journey();
    const a = activities();
    twilio.enqueue({ status: 201, body: { sid: 'SMlate', status: 'queued' }, delayMs: 2_000 });

    await expect(a.sendSms(j.sms())).rejects.toMatchObject({ ambiguous: true });
    const settled = await a.sendSms(j.sms());

    expect(twilio.messages).toHaveLength(1);
    expect(settled).toMatchObject({ status: 'sent' });
    expect(await messagesOf(j.flowId)).toMatchObject([{ status: 'sent' }]);
  });

  test('SMS that Twilio did not take (its late answer was a 500): not listed, so sent again, once', async () => {
    const j = journey();
    const a = activities();
    twilio.enqueue({ status: 500, body: { code: 20500, message: 'Internal' }, delayMs: 2_000 });

    await expect(a.sendSms(j.sms())).rejects.toMatchObject({ ambiguous: true });
    expect(await a.sendSms(j.sms())).toMatchObject({ status: 'sent' });

    expect(twilio.messages).toHaveLength(1);
    expect(twilio.requests.filter((r) => r.method === 'POST')).toHaveLength(2);
    expect(twilio.lookups).toHaveLength(1);
  });
});

test('a certain failure (connection refused, nothing sent) is retried and then sent, never "unknown"', async () => {
  const j = journey();
  const closed = await new FakeSendGrid().start();
  const url = closed.url;
  await closed.stop();
  const refused = createActivities({
    db: database.db,
    email: sendgridProvider({ apiKey: 'SG.k', baseUrl: url, timeoutMs: PROVIDER_TIMEOUT_MS }),
    sms: outboxProvider(),
    push: outboxProvider<OutgoingPush>(),
    emailFrom: 'shop@example.com',
    links: TEST_LINKS,
    sendLeaseMs: LEASE_MS,
  });

  await expect(refused.sendEmail(j.email())).rejects.toMatchObject({ retryable: true, ambiguous: false });
  expect(await messagesOf(j.flowId)).toMatchObject([{ status: 'retrying', reason: expect.stringMatching(/not sent/) }]);
  expect(await activities().sendEmail(j.email())).toMatchObject({ status: 'sent' });
  expect(sendgrid.emails).toHaveLength(1);
});

test('a journey reset (new run id, same trigger) never sends the step again; a new entry (new trigger) does', async () => {
  const j = journey();
  const a = activities();
  const first = await a.sendEmail(j.email('run-before-reset', 7001));
  const afterReset = await a.sendEmail(j.email('run-after-reset', 7001));

  expect(afterReset).toEqual(first);
  expect(sendgrid.emails).toHaveLength(1);

  const reentry = await a.sendEmail(j.email('run-next-entry', 7002));
  expect(reentry).toMatchObject({ status: 'sent' });
  expect(sendgrid.emails).toHaveLength(2);
});

test('a message row from before send keys (same run retried after the upgrade) is found and not sent again', async () => {
  const j = journey();
  const request = j.email('run-legacy');
  await database.db.query(
    `INSERT INTO messages (journey_run_id, flow_id, flow_version, step_id, contact_id, channel, recipient, provider, provider_message_id, status, attempts, sent_at)
     VALUES ($2, $1, 1, 'reminder', 'ada', 'email', 'ada@example.com', 'sendgrid', 'sg-legacy', 'sent', 1, now())`,
    [j.flowId, request.journey.runId],
  );

  expect(await activities().sendEmail(request)).toMatchObject({ status: 'sent', providerMessageId: 'sg-legacy' });
  expect(sendgrid.emails).toHaveLength(0);
  expect(await messagesOf(j.flowId)).toMatchObject([{ sendKey: expect.stringContaining('|reminder'), status: 'sent' }]);
});

test('a webhook whose receiver answers too late is delivered again (at least once), with the same X-Parcours-Delivery', async () => {
  const receiver = await new FakeHttpServer(() => ({ status: 200 })).start();
  try {
    receiver.enqueue({ status: 200, delayMs: 2_000 });
    const j = journey();
    const { rules: _rules, step: _step, ...guard } = j.email();
    const req = {
      ...guard,
      step: { id: 'notify', type: 'webhook' as const, url: `${receiver.url}/hook`, body: '{"order":1}', headers: {} },
    };
    const opts = { timeoutMs: PROVIDER_TIMEOUT_MS, leaseMs: LEASE_MS };

    await expect(callWebhook(database.db, 'secret', req, opts)).rejects.toMatchObject({
      retryable: true,
      ambiguous: true,
    });
    expect(await callWebhook(database.db, 'secret', req, opts)).toMatchObject({ status: 'sent', httpStatus: 200 });
    expect(await callWebhook(database.db, 'secret', req, opts)).toMatchObject({ status: 'sent' });

    expect(receiver.requests).toHaveLength(2);
    const [first, second] = receiver.requests.map((r) => r.headers['x-parcours-delivery']);
    expect(second).toBe(first);
  } finally {
    await receiver.stop();
  }
});

test('six journeys sending to one contact at the same moment under an email cap of 1 a day: one email, five skips', async () => {
  await upsertContact(database.db, 'grace', { email: 'grace@example.com' });
  const capped = createActivities({
    db: database.db,
    email: sendgridProvider({ apiKey: 'SG.k', baseUrl: sendgrid.url, timeoutMs: PROVIDER_TIMEOUT_MS }),
    sms: outboxProvider(),
    push: outboxProvider<OutgoingPush>(),
    emailFrom: 'shop@example.com',
    links: TEST_LINKS,
    sendLeaseMs: LEASE_MS,
    frequencyCapPerDay: 1,
  });
  const requests = Array.from({ length: 6 }, (_, i) => {
    const req = journey().email();
    return { ...req, journey: { ...req.journey, contactId: 'grace', workflowId: `journey:race-${i}:grace` } };
  });
  const outcomes = await Promise.all(requests.map((r) => capped.sendEmail(r)));

  expect(sendgrid.emails.filter((e) => e.to === 'grace@example.com')).toHaveLength(1);
  expect(outcomes.map((o) => o.status).sort()).toEqual(['sent', 'skipped', 'skipped', 'skipped', 'skipped', 'skipped']);
});

describe('an attempt that stalls between its claim and the provider call, past its lease', () => {
  /**
   * The stalled attempt: its database answers, then it stalls (a long GC pause, a frozen VM)
   * right before handing the message to the provider, longer than its lease.
   */
  const stalledActivities = (stall: { started?: () => void; release: Promise<void> }) => {
    const stalledDb = new Proxy(database.db, {
      get(target, prop) {
        if (prop === 'query')
          return async (...args: Parameters<typeof target.query>) => {
            if (typeof args[0] === 'string' && args[0].includes('SET provider_called_at')) {
              stall.started?.();
              await stall.release;
            }
            return (target.query as (...a: unknown[]) => unknown)(...args);
          };
        const value = Reflect.get(target, prop, target) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as typeof database.db;
    return createActivities({
      db: stalledDb,
      email: sendgridProvider({ apiKey: 'SG.k', baseUrl: sendgrid.url, timeoutMs: PROVIDER_TIMEOUT_MS }),
      sms: outboxProvider(),
      push: outboxProvider<OutgoingPush>(),
      emailFrom: 'shop@example.com',
      links: TEST_LINKS,
      sendLeaseMs: LEASE_MS,
    });
  };

  test.each([
    ['transactional', true],
    ['marketing', false],
  ])(
    '%s: the retry that took its claim sends once; the stalled attempt never calls SendGrid',
    async (_, transactional) => {
      const j = journey({ transactional });
      let stalled!: () => void;
      let release!: () => void;
      const reachedHandOver = new Promise<void>((resolve) => (stalled = resolve));
      const first = stalledActivities({ started: stalled, release: new Promise((resolve) => (release = resolve)) })
        .sendEmail(j.email())
        .then(
          (outcome) => ({ outcome }),
          (error: unknown) => ({ error }),
        );
      await reachedHandOver;
      await sleep(LEASE_MS + 200); // the stall outlives the lease
      // Temporal's retry of the step (its heartbeat timeout noticed the stalled attempt).
      const retry = await activities().sendEmail(j.email());
      expect(retry).toMatchObject({ status: 'sent' });
      release();
      const stalledResult = await first;

      expect(stalledResult).toMatchObject({ error: { type: 'MessageClaimLost', nonRetryable: false } });
      expect(sendgrid.emails).toHaveLength(1);
      const [message] = await messagesOf(j.flowId);
      expect(message).toMatchObject({ status: 'sent', attempts: 2 });
    },
  );
});
