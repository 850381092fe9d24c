/**
 * The frequency cap per channel with priorities, on the time-skipping server with real journeys:
 * an email cap of 1 per day (SMS uncapped), a low-priority promotion and an abandoned-cart
 * reminder arriving in both orders, a promotion that waits for the cap instead of being
 * dropped, and transactional mail that the cap never touches.
 */
import { capRefusal, capRefusals } from '../activities/frequency-cap';
import { CAMPAIGN_PRIORITY, DEFAULT_FLOW_PRIORITY } from '../audiences/frequency-cap';
import type { FlowInput } from '../flows/schema';
import { waitFor } from './helpers/fake-http';
import { Harness } from './helpers/harness';

let h: Harness;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

beforeAll(async () => {
  h = await Harness.start({ frequencyCapPerChannel: { email: 1 } });
});
afterAll(async () => {
  await h?.stop();
});

const email = (id: string, subject: string, extra: Record<string, unknown> = {}) => ({
  id,
  type: 'email' as const,
  subject,
  html: `<p>${subject}</p>`,
  ...extra,
});
// Smart sending (one marketing email per 16 h, any priority) would hide what the cap does: off.
const flow = (trigger: string, steps: FlowInput['steps'], extra: Partial<FlowInput> = {}): FlowInput => ({
  name: trigger,
  status: 'live',
  trigger: { event: trigger },
  smartSending: { enabled: false, hours: 16 },
  quietHours: { email: null, sms: null, push: null },
  steps,
  ...extra,
});
const subjectsTo = (to: string) => h.sendgrid.emails.filter((e) => e.to === to).map((e) => e.subject);
const messagesOf = async (contactId: string) =>
  (await h.http('get', `/v1/contacts/${contactId}/messages`)).body.messages as {
    flowId: string;
    stepId: string;
    status: string;
    reason: string | null;
    sentAt: string | null;
  }[];
const messageOf = async (contactId: string, flowId: string) =>
  (await messagesOf(contactId)).find((m) => m.flowId === flowId);
/**
 * The first journey's message, without awaiting its result: once a journey ends, awaiting a
 * result lets the time-skipping server jump far ahead (years), past any 24-hour cap.
 */
const sent = (contactId: string, flowId: string) =>
  waitFor(async () => (await messageOf(contactId, flowId))?.status === 'sent', `${flowId} to send to ${contactId}`);
/** The abandoned-cart reminder, an hour after checkout. */
const cartReminder = async (contactId: string) => {
  await h.track({ userId: contactId, event: 'Checkout Started' });
  await h.env.sleep(HOUR);
  await sent(contactId, 'cart');
};

beforeAll(async () => {
  // A promotion (low priority) and the abandoned-cart reminder (high priority, an hour after checkout).
  await h.putFlow('promo', flow('Promo Started', [email('promo-mail', 'Summer selection')], { priority: 10 }));
  await h.putFlow(
    'promo-wait',
    flow('Promo Wait Started', [email('promo-mail', 'Summer selection, later')], { priority: 10, whenCapped: 'wait' }),
  );
  await h.putFlow(
    'cart',
    flow(
      'Checkout Started',
      [{ id: 'wait-1h', type: 'delay', duration: '1 hour' }, email('reminder', 'Your cart is waiting')],
      { priority: 80 },
    ),
  );
});

describe('priorities: a capped promotion gives way to the abandoned-cart reminder', () => {
  test('reminder first: the promotion after it is capped (skipped)', async () => {
    await h.identify('cart-first', { email: 'cart-first@example.com' });
    await cartReminder('cart-first');
    await h.track({ userId: 'cart-first', event: 'Promo Started' });
    const promo = await h.result('promo', 'cart-first');

    expect(subjectsTo('cart-first@example.com')).toEqual(['Your cart is waiting']);
    expect(promo.steps[0].outcome).toBe(
      'skipped (frequency cap: 1 marketing email message in the last 24 h (email cap 1))',
    );
    expect(await messageOf('cart-first', 'promo')).toMatchObject({
      status: 'skipped',
      reason: 'frequency cap: 1 marketing email message in the last 24 h (email cap 1)',
    });
  });

  test('promotion first: the reminder still goes (a lower priority never blocks a higher one)', async () => {
    await h.identify('promo-first', { email: 'promo-first@example.com' });
    await h.track({ userId: 'promo-first', event: 'Promo Started' });
    await sent('promo-first', 'promo');
    await h.track({ userId: 'promo-first', event: 'Checkout Started' });
    await h.result('cart', 'promo-first');

    expect(subjectsTo('promo-first@example.com')).toEqual(['Summer selection', 'Your cart is waiting']);
  });

  test('the same priority counts: a second promotion on the same day is capped', async () => {
    await h.identify('two-promos', { email: 'two-promos@example.com' });
    await h.track({ userId: 'two-promos', event: 'Promo Started' });
    await sent('two-promos', 'promo');
    await h.track({ userId: 'two-promos', event: 'Promo Wait Started' });
    // Not sent now: it waits (checked below in its own test); end it to keep this one short.
    await waitFor(async () => (await h.state('promo-wait', 'two-promos')).waitingUntil, 'the second promotion to wait');
    await h.journey('promo-wait', 'two-promos').terminate('test over');
    expect(subjectsTo('two-promos@example.com')).toEqual(['Summer selection']);
  });
});

test('whenCapped "wait": the capped promotion goes out when the cap allows it, 24 h after the reminder', async () => {
  await h.identify('patient', { email: 'patient@example.com' });
  await cartReminder('patient');
  const reminderAt = Date.parse((await messageOf('patient', 'cart'))!.sentAt!);

  await h.track({ userId: 'patient', event: 'Promo Wait Started' });
  const waiting = await waitFor(
    async () => (await h.state('promo-wait', 'patient')).waitingUntil,
    'the promotion to wait for the cap',
  );
  expect(Date.parse(waiting)).toBe(reminderAt + DAY);
  expect(subjectsTo('patient@example.com')).toEqual(['Your cart is waiting']);

  const result = await h.result('promo-wait', 'patient');
  expect(result.steps[0].outcome).toBe('sent via sendgrid');
  expect(subjectsTo('patient@example.com')).toEqual(['Your cart is waiting', 'Summer selection, later']);
  // Sent at the journey's clock the moment the reminder left the 24-hour window (the timer
  // fires on the second; the send follows at once).
  const promoAt = Date.parse((await messageOf('patient', 'promo-wait'))!.sentAt!);
  expect(promoAt - (reminderAt + DAY)).toBeGreaterThanOrEqual(0);
  expect(promoAt - (reminderAt + DAY)).toBeLessThan(2_000);
  // The fake received the reminder first, the promotion after.
  const received = h.sendgrid.emails.filter((e) => e.to === 'patient@example.com');
  expect(received[1].at).toBeGreaterThanOrEqual(received[0].at);
});

test('per channel: email capped, SMS still sent', async () => {
  await h.putFlow(
    'multi',
    flow('Multi Started', [
      email('mail-1', 'First news'),
      email('mail-2', 'Second news'),
      { id: 'text', type: 'sms', body: 'News by SMS' },
    ]),
  );
  await h.identify('both', { email: 'both@example.com', phone: '+33611111111' });
  await h.http('put', '/v1/contacts/both/consent/sms').send({ status: 'subscribed', source: 'test' }); // marketing SMS need an opt-in
  await h.track({ userId: 'both', event: 'Multi Started' });
  const result = await h.result('multi', 'both');

  expect(subjectsTo('both@example.com')).toEqual(['First news']);
  expect(h.twilio.messages.filter((m) => m.to === '+33611111111').map((m) => m.body)).toEqual(['News by SMS']);
  expect(result.steps.map((s) => s.outcome)).toEqual([
    'sent via sendgrid',
    'skipped (frequency cap: 1 marketing email message in the last 24 h (email cap 1))',
    'sent via twilio',
  ]);
});

test('transactional messages are never capped and never counted', async () => {
  await h.putFlow(
    'order-mails',
    flow('Order Placed', [
      email('receipt', 'Your receipt', { transactional: true }),
      email('upsell', 'You may also like'),
      email('shipping', 'Your parcel is on its way', { transactional: true }),
      email('upsell-2', 'One more idea'),
    ]),
  );
  await h.identify('buyer', { email: 'buyer@example.com' });
  await h.track({ userId: 'buyer', event: 'Order Placed' });
  await h.result('order-mails', 'buyer');

  expect(subjectsTo('buyer@example.com')).toEqual(['Your receipt', 'You may also like', 'Your parcel is on its way']);
});

test('a flow saved without the new fields keeps its stored definition (defaults applied where read)', async () => {
  const res = await h.http('get', '/v1/flows/multi');
  expect(res.body.priority).toBeUndefined();
  expect(res.body.whenCapped).toBeUndefined();
  const bad = await h
    .http('put', '/v1/flows/bad-priority')
    .send({ ...flow('X', [email('m', 'M')]), priority: 0, whenCapped: 'later', holdout: { share: 1 } });
  expect(bad.status).toBe(400);
  const paths = (bad.body.error.issues as { path: (string | number)[] }[]).map((i) => i.path.join('.'));
  expect(paths).toEqual(expect.arrayContaining(['priority', 'whenCapped', 'holdout.share']));
});

test('campaign sends rank lowest: counted by campaigns, never by flows; both caps reached, the later moment wins', async () => {
  await h.identify('newsreader', { email: 'newsreader@example.com' });
  const now = await h.env.currentTimeMs();
  // What a campaign's send leaves: a sent marketing email of no flow version.
  const campaignSend = (id: string, at: number) =>
    h.db.query(
      `INSERT INTO messages (send_key, journey_run_id, campaign_id, source, priority, step_id, contact_id, channel, transactional, status, sent_at)
       VALUES ($1, $1, 'newsletter', 'campaign', 0, 'message', 'newsreader', 'email', false, 'sent', $2)`,
      [id, new Date(at)],
    );
  await campaignSend('campaign-1', now - 3 * HOUR);
  const caps = { allChannels: 2, perChannel: { email: 1 } };
  expect(await capRefusal(h.db, 'newsreader', 'email', DEFAULT_FLOW_PRIORITY, now, caps)).toBeUndefined();
  expect(await capRefusal(h.db, 'newsreader', 'sms', CAMPAIGN_PRIORITY, now, caps)).toBeUndefined();
  expect(await capRefusal(h.db, 'newsreader', 'email', CAMPAIGN_PRIORITY, now, caps)).toEqual({
    reason: 'frequency cap: 1 marketing email message in the last 24 h (email cap 1)',
    until: now - 3 * HOUR + DAY,
  });
  await campaignSend('campaign-2', now - 5 * HOUR);
  // All channels: 2 of 2, the older must leave the window (in 19 h); email alone: 21 h. The later wins.
  expect(await capRefusal(h.db, 'newsreader', 'email', CAMPAIGN_PRIORITY, now, caps)).toMatchObject({
    until: now - 3 * HOUR + DAY,
  });
  expect(await capRefusal(h.db, 'newsreader', 'sms', CAMPAIGN_PRIORITY, now, caps)).toEqual({
    reason: 'frequency cap: 2 marketing messages in the last 24 h (cap 2)',
    until: now - 5 * HOUR + DAY,
  });
  // A campaign page asks for all its recipients at once: only the capped ones come back.
  const page = await capRefusals(h.db, ['newsreader', 'nobody'], 'email', CAMPAIGN_PRIORITY, now, caps);
  expect([...page.keys()]).toEqual(['newsreader']);
});

describe('caps hold under concurrency: journeys to one contact at the same moment', () => {
  // A real dev server, not the time-skipping one: three journeys contend for one contact's send lock for real, and
  // a server that skips time while an activity waits on that lock would time the workflow out instead.
  let r: Harness;
  beforeAll(async () => {
    r = await Harness.start({ devServerArgs: [], frequencyCapPerChannel: { email: 1 } });
  }, 120_000);
  afterAll(async () => {
    await r?.stop();
  });
  const outcomesOf = (results: { steps: { outcome: string }[] }[]) => results.map((r) => r.steps[0].outcome).sort();

  test('an email cap of 1 a day: one event starts three flows at once, exactly one email reaches SendGrid', async () => {
    for (const id of ['launch-a', 'launch-b', 'launch-c'])
      await r.putFlow(id, flow('Launch Announced', [email('news', `Launch ${id}`)]));
    await r.identify('racer', { email: 'racer@example.com' });
    await r.track({ userId: 'racer', event: 'Launch Announced' });
    const results = await Promise.all(['launch-a', 'launch-b', 'launch-c'].map((id) => r.result(id, 'racer')));

    expect(r.sendgrid.emails.filter((e) => e.to === 'racer@example.com')).toHaveLength(1);
    expect(outcomesOf(results)).toEqual([
      'sent via sendgrid',
      'skipped (frequency cap: 1 marketing email message in the last 24 h (email cap 1))',
      'skipped (frequency cap: 1 marketing email message in the last 24 h (email cap 1))',
    ]);
  });

  test('smart sending (SMS, no cap): one event starts three flows at once, exactly one SMS reaches Twilio', async () => {
    const smart = { smartSending: { enabled: true, hours: 16 } };
    for (const id of ['flash-a', 'flash-b', 'flash-c'])
      await r.putFlow(id, flow('Flash Sale', [{ id: 'text', type: 'sms', body: `Flash ${id}` }], smart));
    await r.identify('texter', { phone: '+33622222222' });
    await r.http('put', '/v1/contacts/texter/consent/sms').send({ status: 'subscribed', source: 'test' });
    await r.track({ userId: 'texter', event: 'Flash Sale' });
    const results = await Promise.all(['flash-a', 'flash-b', 'flash-c'].map((id) => r.result(id, 'texter')));

    expect(r.twilio.messages.filter((m) => m.to === '+33622222222')).toHaveLength(1);
    const outcomes = outcomesOf(results);
    expect(outcomes[0]).toBe('sent via twilio');
    expect(outcomes.slice(1)).toEqual([
      expect.stringMatching(/^skipped \(smart sending: a marketing sms went out 0\.0 h ago \(window 16 h\)\)$/),
      expect.stringMatching(/^skipped \(smart sending: a marketing sms went out 0\.0 h ago \(window 16 h\)\)$/),
    ]);
  });
});
