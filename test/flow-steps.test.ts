/**
 * Every step type and journey rule of the flow language, on the time-skipping server with
 * the real activities, real Postgres and the fake providers: which message each contact
 * gets, when, and which it does not.
 */
import { createECDH, createHmac, randomBytes } from 'node:crypto';
import { createActivities } from '../activities';
import { outboxProvider } from '../activities/providers/outbox';
import type { OutgoingEmail, OutgoingPush, OutgoingSms } from '../activities/providers/types';
import type { FlowInput } from '../flows/schema';
import { FakeHttpServer, selfSignedCertificate, waitFor, zoneWhereLocalHourIs } from './helpers/fake-http';
import { Harness, TEST_LINKS, WEBHOOK_SECRET } from './helpers/harness';

let h: Harness;
const webhookReceiver = new FakeHttpServer(() => ({ status: 200, body: { ok: true } }));
const pushService = new FakeHttpServer(() => ({ status: 201 }), selfSignedCertificate());
const HOUR = 3_600_000;

beforeAll(async () => {
  h = await Harness.start({ today: true });
  await webhookReceiver.start();
  await pushService.start();
});
afterAll(async () => {
  await h?.stop();
  await webhookReceiver.stop();
  await pushService.stop();
});

const email = (id: string, subject: string, extra: Record<string, unknown> = {}) => ({
  id,
  type: 'email' as const,
  subject,
  html: `<p>${subject}</p>`,
  ...extra,
});
const flow = (trigger: string, steps: FlowInput['steps'], extra: Partial<FlowInput> = {}): FlowInput => ({
  name: trigger,
  status: 'live',
  trigger: { event: trigger },
  steps,
  ...extra,
});
const subjectsTo = (to: string) => h.sendgrid.emails.filter((e) => e.to === to).map((e) => e.subject);
const messagesOf = async (contactId: string) =>
  (await h.http('get', `/v1/contacts/${contactId}/messages`)).body.messages as {
    id: string;
    stepId: string;
    status: string;
    reason: string | null;
    sentAt: string | null;
  }[];

/** A zone in which the test server's clock reads `hour` o'clock now. */
const zoneWhereItIs = async (hour: number) => zoneWhereLocalHourIs(await h.env.currentTimeMs(), hour);

describe('splits', () => {
  test('on the profile: pro customers get one email, the others another', async () => {
    await h.putFlow(
      'plan-split',
      flow('Plan Check', [
        {
          id: 'by-plan',
          type: 'split',
          condition: { profile: { property: 'plan', op: 'equals', value: 'pro' } },
          else: 'free-mail',
        },
        email('pro-mail', 'For pros'),
        { id: 'done', type: 'exit' },
        email('free-mail', 'Upgrade?'),
      ]),
    );
    await h.identify('pro-1', { email: 'pro-1@example.com', plan: 'pro' });
    await h.identify('free-1', { email: 'free-1@example.com', plan: 'free' });
    await h.track({ userId: 'pro-1', event: 'Plan Check' });
    await h.track({ userId: 'free-1', event: 'Plan Check' });
    await h.result('plan-split', 'pro-1');
    await h.result('plan-split', 'free-1');

    expect(subjectsTo('pro-1@example.com')).toEqual(['For pros']);
    expect(subjectsTo('free-1@example.com')).toEqual(['Upgrade?']);
  });

  test('on what the contact did: 5 orders in the last 365 days', async () => {
    await h.putFlow(
      'loyal-split',
      flow('Loyalty Check', [
        {
          id: 'orders',
          type: 'split',
          condition: { event: 'Order Completed', count: { op: 'gte', value: 5 }, within: '365 days' },
          else: 'regular',
        },
        email('loyal', 'Thanks for 5 orders'),
        { id: 'end', type: 'exit' },
        email('regular', 'Hello'),
      ]),
    );
    for (const [user, orders] of [
      ['five', 5],
      ['four', 4],
    ] as const) {
      await h.identify(user, { email: `${user}@example.com` });
      for (let i = 0; i < orders; i += 1)
        await h.track({ userId: user, event: 'Order Completed', properties: { order_id: `${user}-${i}` } });
      await h.track({ userId: user, event: 'Loyalty Check' });
      await h.result('loyal-split', user);
    }
    expect(subjectsTo('five@example.com')).toEqual(['Thanks for 5 orders']);
    expect(subjectsTo('four@example.com')).toEqual(['Hello']);
  });

  test("on the trigger's properties: carts over 100 take the premium branch", async () => {
    await h.putFlow(
      'cart-value',
      flow('Cart Valued', [
        {
          id: 'value',
          type: 'split',
          condition: { trigger: { property: 'total', op: 'gt', value: 100 } },
          else: 'small',
        },
        email('big', 'Free shipping on your big cart'),
        { id: 'end', type: 'exit' },
        email('small', 'Add a little more'),
      ]),
    );
    await h.identify('big-cart', { email: 'big-cart@example.com' });
    await h.identify('small-cart', { email: 'small-cart@example.com' });
    await h.track({ userId: 'big-cart', event: 'Cart Valued', properties: { total: 240 } });
    await h.track({ userId: 'small-cart', event: 'Cart Valued', properties: { total: 40 } });
    const big = await h.result('cart-value', 'big-cart');
    await h.result('cart-value', 'small-cart');

    expect(subjectsTo('big-cart@example.com')).toEqual(['Free shipping on your big cart']);
    expect(subjectsTo('small-cart@example.com')).toEqual(['Add a little more']);
    expect(big.steps[0]).toMatchObject({ stepId: 'value', outcome: 'yes' });
  });

  test('random split: both branches are used, a contact always lands in the same one, and the branch is recorded', async () => {
    await h.putFlow(
      'ab-test',
      flow('AB Entered', [
        {
          id: 'ab',
          type: 'random_split',
          branches: [
            { name: 'a', percent: 50 },
            { name: 'b', percent: 50, next: 'variant-b' },
          ],
        },
        email('variant-a', 'Variant A', { transactional: true }),
        { id: 'end', type: 'exit' },
        email('variant-b', 'Variant B', { transactional: true }),
      ]),
    );
    const branchOf: Record<string, string> = {};
    for (let i = 0; i < 16; i += 1) {
      const user = `ab-${i}`;
      await h.identify(user, { email: `${user}@example.com` });
      await h.track({ userId: user, event: 'AB Entered' });
      branchOf[user] = (await h.result('ab-test', user)).steps[0].branch!;
    }
    expect(new Set(Object.values(branchOf))).toEqual(new Set(['a', 'b']));
    for (const [user, branch] of Object.entries(branchOf))
      expect(subjectsTo(`${user}@example.com`)).toEqual([branch === 'a' ? 'Variant A' : 'Variant B']);

    await h.track({ userId: 'ab-0', event: 'AB Entered' });
    expect((await h.result('ab-test', 'ab-0')).steps[0].branch).toBe(branchOf['ab-0']);
    const journeys = (await h.http('get', '/v1/contacts/ab-0/journeys')).body.journeys;
    expect(journeys[0].steps[0]).toMatchObject({ stepId: 'ab', branch: branchOf['ab-0'] });
  });
});

describe('wait for an event', () => {
  const waitFlow = flow('Trial Started', [
    {
      id: 'wait-activation',
      type: 'wait_for_event',
      event: 'Feature Used',
      where: [{ property: 'feature', op: 'equals', value: 'export' }],
      timeout: '2 days',
      onTimeout: 'nudge',
    },
    email('congrats', 'Nice export!'),
    { id: 'end', type: 'exit' },
    email('nudge', 'Try exporting'),
  ]);

  test('the event within the timeout takes the "happened" branch at once', async () => {
    await h.putFlow('trial', waitFlow);
    await h.identify('active', { email: 'active@example.com' });
    await h.track({ userId: 'active', event: 'Trial Started' });
    await h.env.sleep('3 hours');
    await h.track({ userId: 'active', event: 'Feature Used', properties: { feature: 'import' } });
    await h.track({ userId: 'active', event: 'Feature Used', properties: { feature: 'export' } });
    const result = await h.result('trial', 'active');

    expect(result.steps[0].outcome).toBe('Feature Used happened');
    expect(Date.parse(result.steps[0].at) - Date.parse(result.steps[1].at)).toBeLessThan(HOUR);
    expect(subjectsTo('active@example.com')).toEqual(['Nice export!']);
  });

  test('no event: the timeout branch, 2 days later', async () => {
    await h.identify('idle', { email: 'idle@example.com' });
    await h.track({ userId: 'idle', event: 'Trial Started' });
    const result = await h.result('trial', 'idle');
    expect(result.steps[0].outcome).toBe('timed out');
    expect(subjectsTo('idle@example.com')).toEqual(['Try exporting']);
  });
});

describe('profile updates', () => {
  test('set, unset, tags and lead-score points; a score crossing 50 enters the profile-triggered flow once', async () => {
    await h.putFlow(
      'pants-interest',
      flow(
        'Product Viewed',
        [
          {
            id: 'mark',
            type: 'update_profile',
            set: { last_category: '{{ event.properties.category }}' },
            unset: ['stale'],
            addTags: ['interested-pants'],
            score: 30,
          },
        ],
        {
          trigger: { event: 'Product Viewed', where: [{ property: 'category', op: 'equals', value: 'pants' }] },
          reentry: { mode: 'when_not_in_flow' },
        },
      ),
    );
    await h.putFlow('sales-ready', {
      name: 'Sales ready',
      status: 'live',
      trigger: { profileChange: { profile: { property: 'lead_score', op: 'gte', value: 50 } } },
      steps: [email('sales', 'A sales rep will call', { transactional: true })],
    });
    await h.identify('lead', { email: 'lead@example.com', stale: true });

    await h.track({ userId: 'lead', event: 'Product Viewed', properties: { category: 'pants' } });
    await h.result('pants-interest', 'lead');
    let contact = (await h.http('get', '/v1/contacts/lead')).body;
    expect(contact.traits).toMatchObject({ last_category: 'pants', tags: ['interested-pants'], lead_score: 30 });
    expect(contact.traits.stale).toBeUndefined();

    await h.track({ userId: 'lead', event: 'Product Viewed', properties: { category: 'pants' } });
    const second = await h.result('pants-interest', 'lead');
    expect(second.steps[0].outcome).toBe('updated');
    contact = (await h.http('get', '/v1/contacts/lead')).body;
    expect(contact.traits.lead_score).toBe(60);
    // The step stores the change; the router loop enters the profile-triggered flow.
    await (await h.journeyStarted('sales-ready', 'lead')).result();

    await h.track({ userId: 'lead', event: 'Product Viewed', properties: { category: 'pants' } });
    expect((await h.result('pants-interest', 'lead')).steps[0].outcome).toBe('updated'); // 90: no new crossing
    expect(subjectsTo('lead@example.com')).toEqual(['A sales rep will call']);
  });

  test('identify that crosses the threshold enters the flow too, and only on the crossing', async () => {
    await h.identify('scored', { email: 'scored@example.com', lead_score: 10 });
    const crossed = await h.http('post', '/v1/identify').send({ userId: 'scored', traits: { lead_score: 55 } });
    expect(crossed.body.journeys.started).toEqual([expect.objectContaining({ flowId: 'sales-ready' })]);
    await h.result('sales-ready', 'scored');
    const again = await h.http('post', '/v1/identify').send({ userId: 'scored', traits: { lead_score: 70 } });
    expect(again.body.journeys.started).toEqual([]);
  });
});

test('webhook: the rendered JSON arrives signed, with a delivery id, and is retried on 5xx', async () => {
  webhookReceiver.enqueue({ status: 503 });
  await h.putFlow(
    'crm-sync',
    flow('Lead Captured', [
      {
        id: 'to-crm',
        type: 'webhook',
        url: `${webhookReceiver.url}/hooks/crm`,
        body: '{"email": "{{ contact.email }}", "source": "{{ event.properties.source }}"}',
        headers: { 'x-tenant': 'shop-1' },
      },
    ]),
  );
  await h.identify('hooked', { email: 'hooked@example.com' });
  await h.track({ userId: 'hooked', event: 'Lead Captured', properties: { source: 'popup' } });
  const result = await h.result('crm-sync', 'hooked');

  expect(result.steps[0].outcome).toBe('delivered (HTTP 200)');
  expect(webhookReceiver.requests.map((r) => r.status)).toEqual([503, 200]);
  const delivered = webhookReceiver.requests[1];
  expect(JSON.parse(delivered.body)).toEqual({ email: 'hooked@example.com', source: 'popup' });
  expect(delivered.headers['x-tenant']).toBe('shop-1');
  expect(delivered.headers['x-parcours-delivery']).toBe(webhookReceiver.requests[0].headers['x-parcours-delivery']);
  const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(delivered.headers['x-parcours-signature']))!;
  expect(v1).toBe(createHmac('sha256', WEBHOOK_SECRET).update(`${t}.${delivered.body}`).digest('hex'));
});

test('web push: every subscription gets the notification (VAPID-signed, encrypted); a gone one (410) is removed', async () => {
  const subscription = (path: string) => {
    const ecdh = createECDH('prime256v1');
    ecdh.generateKeys();
    return {
      endpoint: `${pushService.url}${path}`,
      keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: randomBytes(16).toString('base64url') },
    };
  };
  await h.putFlow(
    'push-flow',
    flow('Price Dropped', [
      {
        id: 'notify',
        type: 'push',
        title: 'Price drop',
        body: '{{ event.properties.name }} is now {{ event.properties.price }} EUR',
        transactional: true,
      },
    ]),
  );
  await h.identify('pushed', { email: 'pushed@example.com' });
  for (const path of ['/push/phone', '/push/laptop']) {
    expect((await h.http('put', '/v1/contacts/pushed/push-subscriptions').send(subscription(path))).status).toBe(201);
  }
  pushService.enqueue({ status: 201 }, { status: 410 });

  await h.track({ userId: 'pushed', event: 'Price Dropped', properties: { name: 'Linen shirt', price: 39 } });
  const result = await h.result('push-flow', 'pushed');

  expect(result.steps[0].outcome).toBe('sent via webpush');
  expect(pushService.requests.map((r) => r.path)).toEqual(['/push/phone', '/push/laptop']);
  expect(pushService.requests[0].headers['content-encoding']).toBe('aes128gcm');
  expect(String(pushService.requests[0].headers.authorization)).toMatch(/^vapid t=.+, k=.+/);
  const left = await h.db.query("SELECT endpoint FROM push_subscriptions WHERE contact_id = 'pushed'");
  expect(left.rows.map((r: { endpoint: string }) => r.endpoint)).toEqual([`${pushService.url}/push/phone`]);
});

describe('timing rules', () => {
  test("delay until the next day at 10:00 in the contact's time zone", async () => {
    const zone = await zoneWhereItIs(15);
    await h.putFlow(
      'next-morning',
      flow('Search Done', [
        { id: 'morning', type: 'delay_until', days: 1, at: '10:00' },
        email('results', 'Your search', { transactional: true }),
      ]),
    );
    await h.identify('morning', { email: 'morning@example.com', timezone: zone });
    await h.track({ userId: 'morning', event: 'Search Done' });
    const result = await h.result('next-morning', 'morning');

    const woke = new Date(result.steps[1].at);
    const local = new Intl.DateTimeFormat('en-GB', {
      timeZone: zone,
      hour: '2-digit',
      minute: '2-digit',
      hour12: false,
    }).format(woke);
    expect(local).toBe('10:00');
    expect(result.steps[0].outcome).toMatch(/^woke at /);
    expect(woke.getTime() - Date.parse(result.steps[0].at)).toBeLessThan(HOUR); // recorded when it woke
  });

  test('delay until next Monday 09:00, and until 3 days before a date on the contact', async () => {
    await h.putFlow(
      'monday',
      flow('Weekend Browse', [
        { id: 'monday', type: 'delay_until', weekday: 'monday', at: '09:00', timezone: 'Europe/Paris' },
        email('digest', 'Your Monday picks', { transactional: true }),
      ]),
    );
    await h.putFlow(
      'renewal',
      flow('Subscribed', [
        { id: 'before-renewal', type: 'delay_until', date: 'contact.renewal_date', offset: '-3 days' },
        email('renew', 'Renewing soon', { transactional: true }),
      ]),
    );
    await h.identify('weekly-reader', { email: 'weekly-reader@example.com' });
    await h.track({ userId: 'weekly-reader', event: 'Weekend Browse' });
    const monday = await h.result('monday', 'weekly-reader');
    const paris = (at: string) =>
      new Intl.DateTimeFormat('en-GB', {
        timeZone: 'Europe/Paris',
        weekday: 'long',
        hour: '2-digit',
        minute: '2-digit',
        hour12: false,
      }).format(new Date(at));
    expect(paris(monday.steps[1].at)).toBe('Monday 09:00');
    expect(Date.parse(monday.steps[1].at) - (await h.env.currentTimeMs())).toBeLessThanOrEqual(0);

    const renewal = new Date((await h.env.currentTimeMs()) + 10 * 86_400_000).toISOString();
    await h.identify('subscriber', { email: 'subscriber@example.com', renewal_date: renewal });
    await h.track({ userId: 'subscriber', event: 'Subscribed' });
    const result = await h.result('renewal', 'subscriber');
    expect(Math.abs(Date.parse(result.steps[1].at) - (Date.parse(renewal) - 3 * 86_400_000))).toBeLessThan(60_000);
    expect(subjectsTo('subscriber@example.com')).toEqual(['Renewing soon']);
  });

  test('quiet hours: an SMS due at 22:00 local waits until 09:00 and is then sent, not dropped', async () => {
    const zone = await zoneWhereItIs(22);
    await h.putFlow('late-sms', flow('Late Event', [{ id: 'text', type: 'sms', body: 'Good morning' }]));
    await h.identify('night-owl', { phone: '+33699999999', timezone: zone });
    await h.http('put', '/v1/contacts/night-owl/consent/sms').send({ status: 'subscribed', source: 'test' }); // marketing SMS need an opt-in
    await h.track({ userId: 'night-owl', event: 'Late Event' });
    const result = await h.result('late-sms', 'night-owl');

    expect(h.twilio.messages.filter((m) => m.to === '+33699999999').map((m) => m.body)).toEqual(['Good morning']);
    const sentAt = new Date((await messagesOf('night-owl'))[0].sentAt!);
    const local = new Intl.DateTimeFormat('en-GB', {
      timeZone: zone,
      hour: '2-digit',
      minute: '2-digit',
      hour12: false,
    }).format(sentAt);
    expect(local).toBe('09:00');
    expect(result.steps[0].outcome).toBe('sent via twilio');
  });

  test('smart sending skips a marketing email within 16 h of the last one; transactional mail goes anyway', async () => {
    await h.putFlow(
      'promos',
      flow('Promo Season', [
        email('p1', 'First promo'),
        { id: 'wait-2h', type: 'delay', duration: '2 hours' },
        email('p2', 'Second promo'),
        email('receipt', 'Your receipt', { transactional: true }),
        { id: 'wait-20h', type: 'delay', duration: '20 hours' },
        email('p3', 'Third promo'),
      ]),
    );
    await h.identify('busy', { email: 'busy@example.com' });
    await h.track({ userId: 'busy', event: 'Promo Season' });
    await h.result('promos', 'busy');

    expect(subjectsTo('busy@example.com')).toEqual(['First promo', 'Your receipt', 'Third promo']);
    expect((await messagesOf('busy')).find((m) => m.stepId === 'p2')).toMatchObject({
      status: 'skipped',
      reason: expect.stringMatching(/^smart sending: a marketing email went out 2\.0 h ago/),
    });
  });

  test('the global frequency cap skips marketing messages past N per contact per day', async () => {
    const capped = createActivities({
      db: h.db,
      email: outboxProvider<OutgoingEmail>(),
      sms: outboxProvider<OutgoingSms>(),
      push: outboxProvider<OutgoingPush>(),
      emailFrom: 'shop@example.com',
      frequencyCapPerDay: 2,
      links: TEST_LINKS,
    });
    await h.identify('capped', { email: 'capped@example.com' });
    const send = (runId: string) =>
      capped.sendEmail({
        journey: {
          runId,
          workflowId: runId,
          flowId: 'f',
          flowVersion: 1,
          contactId: 'capped',
          startedAt: new Date().toISOString(),
        },
        step: { id: 'mail', type: 'email', subject: 'Promo', html: '<p>x</p>', transactional: false },
        trigger: { id: 1, messageId: 'x', name: 'X', properties: {}, timestamp: new Date().toISOString() },
        exits: [],
        sentMessages: {},
        now: Date.now(),
        rules: { quietHours: null, smartSendingHours: null },
      });
    expect((await send('cap-1')).status).toBe('sent');
    expect((await send('cap-2')).status).toBe('sent');
    expect(await send('cap-3')).toMatchObject({
      status: 'skipped',
      reason: 'frequency cap: 2 marketing messages in the last 24 h (cap 2)',
    });
  });
});

describe('entry and exit rules', () => {
  test('conversion goal: with exitOnGoal the journey ends with reason "goal"', async () => {
    await h.putFlow(
      'goal-flow',
      flow('Quote Requested', [{ id: 'wait', type: 'delay', duration: '1 day' }, email('follow', 'Following up')], {
        goal: { event: 'Order Completed', exitOnGoal: true },
      }),
    );
    await h.identify('converts', { email: 'converts@example.com' });
    await h.track({ userId: 'converts', event: 'Quote Requested' });
    await h.track({ userId: 'converts', event: 'Order Completed', properties: { revenue: 120 } });
    const result = await h.result('goal-flow', 'converts');
    expect(result.exit).toMatchObject({ reason: 'goal', detectedBy: 'signal' });
    expect(subjectsTo('converts@example.com')).toEqual([]);
  });

  test('a profile condition as flow filter stops the next send (checked at every step)', async () => {
    await h.putFlow(
      'nurture',
      flow('Nurture Me', [{ id: 'wait', type: 'delay', duration: '1 day' }, email('nurture-1', 'Nurture')], {
        exitWhen: [{ profile: { property: 'tags', op: 'contains', value: 'customer' } }],
      }),
    );
    await h.identify('nurtured', { email: 'nurtured@example.com' });
    await h.track({ userId: 'nurtured', event: 'Nurture Me' });
    await h.identify('nurtured', { tags: ['customer'] });
    const result = await h.result('nurture', 'nurtured');
    expect(result.exit).toMatchObject({
      reason: 'flow_filter',
      detectedBy: 'send_guard',
      filter: { profile: { property: 'tags' } },
    });
    expect(subjectsTo('nurtured@example.com')).toEqual([]);
  });

  test('trigger contact conditions: only contacts who never ordered enter', async () => {
    await h.putFlow('first-order-nudge', {
      ...flow('Cart Viewed', [email('nudge', 'Your first order?', { transactional: true })]),
      trigger: { event: 'Cart Viewed', contact: { event: 'Order Completed', count: { op: 'eq', value: 0 } } },
    });
    await h.track({ userId: 'old-buyer', event: 'Order Completed' });
    const refused = await h.track({ userId: 'old-buyer', event: 'Cart Viewed' });
    expect(refused.journeys.started).toEqual([]);
    expect(refused.journeys).toMatchObject({
      notEntered: [{ flowId: 'first-order-nudge', reason: 'the contact does not meet the trigger conditions' }],
    });
    expect((await h.track({ userId: 'newcomer', event: 'Cart Viewed' })).journeys.started).toHaveLength(1);
  });

  test('re-entry: "once" never lets the contact in again; "once_per" after the period only', async () => {
    await h.putFlow(
      'once-only',
      flow('Once Event', [email('once', 'Only once', { transactional: true })], { reentry: { mode: 'once' } }),
    );
    await h.putFlow(
      'weekly',
      flow('Weekly Event', [email('weekly', 'Weekly', { transactional: true })], {
        reentry: { mode: 'once_per', period: '7 days' },
      }),
    );
    await h.identify('repeat', { email: 'repeat@example.com' });
    const t0 = Date.now();
    const at = (days: number) => new Date(t0 + days * 86_400_000).toISOString();
    await h.track({ userId: 'repeat', event: 'Once Event', timestamp: at(0) });
    await h.result('once-only', 'repeat');
    expect(
      (await h.track({ userId: 'repeat', event: 'Once Event', timestamp: at(30) })).journeys.notEntered[0],
    ).toMatchObject({ reason: expect.stringMatching(/once/) });

    await h.track({ userId: 'repeat', event: 'Weekly Event', timestamp: at(0) });
    await h.result('weekly', 'repeat');
    expect((await h.track({ userId: 'repeat', event: 'Weekly Event', timestamp: at(3) })).journeys.started).toEqual([]);
    expect(
      (await h.track({ userId: 'repeat', event: 'Weekly Event', timestamp: at(8) })).journeys.started,
    ).toHaveLength(1);
    await h.result('weekly', 'repeat');
    expect(subjectsTo('repeat@example.com')).toEqual(['Only once', 'Weekly', 'Weekly']);
  });

  test("keyed journeys: one per cart, and the order of one cart ends only that cart's journey", async () => {
    await h.putFlow('cart-keyed', {
      ...flow('Checkout Begun', [
        { id: 'wait', type: 'delay', duration: '1 hour' },
        email('remind', 'Cart {{ event.properties.cart_id }} is waiting'),
      ]),
      journeyKey: 'cart_id',
      smartSending: { enabled: false },
      exitWhen: [
        { event: 'Order Completed', where: [{ property: 'cart_id', op: 'equals', value: { fromTrigger: 'cart_id' } }] },
      ],
    });
    await h.identify('two-carts', { email: 'two-carts@example.com' });
    await h.track({ userId: 'two-carts', event: 'Checkout Begun', properties: { cart_id: 'c1' } });
    await h.track({ userId: 'two-carts', event: 'Checkout Begun', properties: { cart_id: 'c2' } });
    await h.track({ userId: 'two-carts', event: 'Order Completed', properties: { cart_id: 'c1' } });
    const c1 = await h.env.client.workflow.getHandle('journey:cart-keyed:two-carts:c1').result();
    const c2 = await h.env.client.workflow.getHandle('journey:cart-keyed:two-carts:c2').result();

    expect(c1.exit).toMatchObject({ reason: 'flow_filter' });
    expect(c2.status).toBe('completed');
    expect(subjectsTo('two-carts@example.com')).toEqual(['Cart c2 is waiting']);
  });
});

describe('flow lifecycle', () => {
  const noticeDone = (flowId: string) =>
    waitFor(async () => {
      const { notice } = (await h.http('get', `/v1/flows/${flowId}/status-notice`)).body;
      return notice?.state === 'done' && notice;
    }, `the status of ${flowId} told to its journeys`);

  test('pausing holds running journeys before their next send; activating again releases them; new entries wait for live', async () => {
    await h.putFlow(
      'seasonal',
      flow('Season Opened', [
        { id: 'wait', type: 'delay', duration: '1 hour' },
        email('season', 'The season is open', { transactional: true }),
      ]),
    );
    await h.identify('seasoned', { email: 'seasoned@example.com' });
    await h.track({ userId: 'seasoned', event: 'Season Opened' });
    const paused = await h.http('post', '/v1/flows/seasonal/pause');
    expect(paused.body).toMatchObject({ status: 'paused', journeysNotice: { status: 'paused' } });
    // Running journeys are told in the background, after the answer.
    expect(await noticeDone('seasonal')).toMatchObject({ status: 'paused', journeysSignalled: 1 });
    expect((await h.track({ userId: 'late-comer', event: 'Season Opened' })).journeys.started).toEqual([]);

    await h.env.sleep('3 hours');
    // The send step found the flow paused and holds (its activity runs in real time).
    await waitFor(async () => {
      const state = await h.state('seasonal', 'seasoned');
      return state.currentStep === 'season' && state.flowStatus === 'paused';
    }, 'the journey to hold at its send step');
    expect(subjectsTo('seasoned@example.com')).toEqual([]);

    expect((await h.http('post', '/v1/flows/seasonal/activate')).body.status).toBe('live');
    await h.result('seasonal', 'seasoned');
    expect(subjectsTo('seasoned@example.com')).toEqual(['The season is open']);
  });

  test('archiving ends running journeys with reason "archived"', async () => {
    await h.putFlow(
      'retired',
      flow('Retired Event', [
        { id: 'wait', type: 'delay', duration: '2 days' },
        email('never', 'Never sent', { transactional: true }),
      ]),
    );
    await h.identify('retiree', { email: 'retiree@example.com' });
    await h.track({ userId: 'retiree', event: 'Retired Event' });
    expect((await h.http('post', '/v1/flows/retired/archive')).body).toMatchObject({
      status: 'archived',
      journeysNotice: { status: 'archived' },
    });
    expect(await noticeDone('retired')).toMatchObject({ status: 'archived', journeysSignalled: 1 });
    const result = await h.result('retired', 'retiree');
    expect(result.exit).toEqual({ reason: 'archived' });
    expect(subjectsTo('retiree@example.com')).toEqual([]);
    expect((await h.http('post', '/v1/flows/retired/activate')).status).toBe(409);
  });

  test('a status change is not a new version; an edit is, and versions are listed', async () => {
    await h.putFlow('versions', flow('Versioned', [email('v', 'One')]));
    await h.http('post', '/v1/flows/versions/pause');
    await h.putFlow('versions', { ...flow('Versioned', [email('v', 'Two')]), status: 'paused' });
    const versions = (await h.http('get', '/v1/flows/versions/versions')).body.versions;
    expect(versions.map((v: { version: number }) => v.version)).toEqual([1, 2]);
    expect((await h.http('get', '/v1/flows/versions/versions/1')).body.steps[0].subject).toBe('One');
  });
});

test('preview renders every message for a contact and an event, without sending', async () => {
  await h.putFlow(
    'previewed',
    flow('Preview Me', [
      email('hello', 'Hi {{ contact.firstName }}', {
        html: '<p>{{ event.properties.products | size }} items, {{ journey.flowId }}</p>',
      }),
      { id: 'text', type: 'sms', body: 'Cart: {{ event.properties.products[0].name }}' },
    ]),
  );
  await h.identify('previewer', { firstName: 'Pia' });
  const res = await h
    .http('post', '/v1/flows/previewed/preview')
    .send({ contactId: 'previewer', event: { properties: { products: [{ name: 'Hat' }, { name: 'Scarf' }] } } });

  expect(res.status).toBe(200);
  expect(res.body.messages).toEqual([
    { stepId: 'hello', type: 'email', rendered: { subject: 'Hi Pia', html: '<p>2 items, previewed</p>' } },
    { stepId: 'text', type: 'sms', rendered: { body: 'Cart: Hat' } },
  ]);
  expect(await messagesOf('previewer')).toEqual([]);
});
