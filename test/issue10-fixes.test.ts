/**
 * Gaps left in issue 10's work, on the real servers (Postgres, the time-skipping Temporal
 * server, the worker, the fake SendGrid and a fake webhook receiver): an inactivity flow's
 * system segment cannot be deleted under it; a holdout's control contacts skip marketing
 * webhooks; smart sending counts only messages of the same priority or higher; a date flow
 * saved while the calendar clock sleeps wakes it and enters on time.
 */
import { DateTime } from 'luxon';
import { flowHoldoutKey, isHeldOut } from '../audiences/holdout';
import { CALENDAR_DATE_REACHED } from '../flows/date-triggers';
import type { FlowInput } from '../flows/schema';
import { ensureCalendarClock } from '../worker/calendar-clock';
import { campaignHelpers } from './helpers/campaigns';
import { FakeHttpServer, waitFor } from './helpers/fake-http';
import { Harness } from './helpers/harness';

let h: Harness;
const { createList, putCampaign, run, deliveries, messagesOf: campaignMessages } = campaignHelpers(() => h);
const receiver = new FakeHttpServer(() => ({ status: 200, body: { ok: true } }));
const HOUR = 3_600_000;

beforeAll(async () => {
  h = await Harness.start();
  await receiver.start();
}, 120_000);
afterAll(async () => {
  await h?.stop();
  await receiver.stop();
});

const email = (id: string, subject: string) => ({ id, type: 'email' as const, subject, html: `<p>${subject}</p>` });
const flow = (trigger: string, steps: FlowInput['steps'], extra: Partial<FlowInput> = {}): FlowInput => ({
  name: trigger,
  status: 'live',
  trigger: { event: trigger },
  quietHours: { email: null, sms: null, push: null },
  steps,
  ...extra,
});
const messagesOf = async (contactId: string) =>
  (await h.http('get', `/v1/contacts/${contactId}/messages`)).body.messages as {
    flowId: string;
    stepId: string;
    status: string;
    reason: string | null;
  }[];
const settled = (contactId: string, flowId: string) =>
  waitFor(
    async () => {
      const m = (await messagesOf(contactId)).find((x) => x.flowId === flowId);
      return m && m.status !== 'sending' && m;
    },
    `${flowId}'s message to ${contactId}`,
    30_000,
  );

test("an inactivity flow's system segment cannot be deleted while the flow uses it (409 naming it); archived, it can", async () => {
  const put = await h.http('put', '/v1/flows/lapsed').send(
    flow('x', [email('miss-you', 'We miss you')], {
      trigger: { inactivity: { event: 'Order Completed', for: '60 days' } },
    } as Partial<FlowInput>),
  );
  expect(put.status).toBe(201);
  const segmentId: string = put.body.inactivitySegment;
  const refused = await h.http('delete', `/v1/segments/${segmentId}`);
  expect(refused.status).toBe(409);
  expect(refused.body.error).toMatchObject({ code: 'segment_in_use', message: expect.stringContaining('"lapsed"') });
  expect((await h.http('get', `/v1/segments/${segmentId}`)).status).toBe(200);
  expect((await h.http('post', '/v1/flows/lapsed/archive')).status).toBe(200);
  expect((await h.http('delete', `/v1/segments/${segmentId}`)).status).toBe(200);
});

test('holdout: a control contact skips the marketing webhook and still gets the transactional one', async () => {
  const key = flowHoldoutKey('crm-coupon');
  const ids = Array.from({ length: 200 }, (_, i) => `wh-${i}`);
  const control = ids.find((id) => isHeldOut(key, id, 0.5))!;
  const treated = ids.find((id) => !isHeldOut(key, id, 0.5))!;
  await h.putFlow(
    'crm-coupon',
    flow(
      'Order Completed',
      [
        { id: 'coupon', type: 'webhook', url: `${receiver.url}/coupon`, body: '{"contact": "{{ contact.id }}"}' },
        {
          id: 'erp',
          type: 'webhook',
          url: `${receiver.url}/erp`,
          body: '{"contact": "{{ contact.id }}"}',
          transactional: true,
        },
      ],
      { holdout: { share: 0.5 } },
    ),
  );
  for (const id of [control, treated]) {
    await h.identify(id, { email: `${id}@example.com` });
    await h.track({ userId: id, event: 'Order Completed' });
  }
  const calls = (id: string) => receiver.requests.filter((r) => JSON.parse(r.body).contact === id).map((r) => r.path);
  await waitFor(() => calls(treated).length === 2 && calls(control).length === 1, 'the webhook calls', 30_000);
  expect(calls(treated)).toEqual(['/coupon', '/erp']);
  expect(calls(control)).toEqual(['/erp']);
  expect((await messagesOf(control)).find((m) => m.stepId === 'coupon')).toMatchObject({
    status: 'skipped',
    reason: expect.stringContaining('holdout: control group'),
  });
});

test('smart sending counts only messages of the same priority or higher: a reminder after a promotion goes, a promotion after a reminder does not', async () => {
  await h.putFlow('promo', flow('Promo Started', [email('promo-mail', 'Summer selection')], { priority: 10 }));
  await h.putFlow('promo-2', flow('Promo 2 Started', [email('promo-mail', 'Autumn selection')], { priority: 10 }));
  await h.putFlow('cart', flow('Cart Abandoned', [email('reminder', 'Your cart is waiting')], { priority: 80 }));
  await h.identify('shopper', { email: 'shopper@example.com' });
  await h.track({ userId: 'shopper', event: 'Promo Started' });
  expect(await settled('shopper', 'promo')).toMatchObject({ status: 'sent' });
  await h.track({ userId: 'shopper', event: 'Cart Abandoned' });
  expect(await settled('shopper', 'cart')).toMatchObject({ status: 'sent' });
  await h.track({ userId: 'shopper', event: 'Promo 2 Started' });
  expect(await settled('shopper', 'promo-2')).toMatchObject({
    status: 'skipped',
    reason: expect.stringContaining('smart sending'),
  });
  expect(h.sendgrid.emails.filter((e) => e.to === 'shopper@example.com').map((e) => e.subject)).toEqual([
    'Summer selection',
    'Your cart is waiting',
  ]);
});

test('campaigns too: a promotion campaign after a reminder is skipped by smart sending; a reminder after the campaign goes', async () => {
  await h.identify('camp-first', { email: 'camp-first@example.com' });
  await h.identify('cart-first', { email: 'cart-first@example.com' });
  await h.track({ userId: 'cart-first', event: 'Cart Abandoned' });
  expect(await settled('cart-first', 'cart')).toMatchObject({ status: 'sent' });
  await createList('promo-list', ['camp-first', 'cart-first']);
  await putCampaign('flash-sale', {
    name: 'Flash sale',
    message: {
      type: 'email',
      subject: 'Flash sale',
      html: '<p>-30 %</p><a href="{{ unsubscribe_url }}">unsubscribe</a>',
    },
    audience: { lists: ['promo-list'] },
  });
  expect((await h.http('post', '/v1/campaigns/flash-sale/send')).status).toBe(202);
  await run('flash-sale').result();
  expect(
    (await campaignMessages('flash-sale')).map((m) => [
      m.contact_id,
      m.status,
      m.reason?.startsWith('smart sending') ?? null,
    ]),
  ).toEqual([
    ['camp-first', 'sent', null],
    ['cart-first', 'skipped', true],
  ]);
  await h.track({ userId: 'camp-first', event: 'Cart Abandoned' });
  expect(await settled('camp-first', 'cart')).toMatchObject({ status: 'sent' });
  expect(deliveries('flash-sale').map((d) => d.to)).toEqual(['camp-first@example.com']);
  expect(
    h.sendgrid.emails.filter((e) => e.to === 'camp-first@example.com' && e.subject === 'Your cart is waiting'),
  ).toHaveLength(1);
});

test('a date flow saved while the calendar clock sleeps (hourly) wakes it: it enters at its time, not at the next wake', async () => {
  await ensureCalendarClock(h.env.client.workflow);
  const start = await h.env.currentTimeMs();
  // An entry 5 h 45 min after the clock's first look, in UTC: it looks again at +5 h and +6 h.
  const at = DateTime.fromMillis(start + 5 * HOUR + 45 * 60_000, { zone: 'UTC' }).startOf('minute');
  await h.identify('dated', {
    email: 'dated@example.com',
    // Four years back: a leap day stays a leap day (two years back, 29 February 2028 would be the 28th).
    renewal_date: at.minus({ years: 4 }).toISODate(),
    timezone: 'UTC',
  });
  await h.env.sleep(at.toMillis() - 30 * 60_000 - start);
  await h.putFlow(
    'renewal',
    flow('x', [email('renew', 'Time to renew')], {
      smartSending: { enabled: false, hours: 16 },
      trigger: { date: { property: 'renewal_date', at: at.toFormat('HH:mm') } },
    } as Partial<FlowInput>),
  );
  // Let the woken clock read the flow before the next jump.
  await new Promise((r) => setTimeout(r, 2_000));
  await h.env.sleep(at.toMillis() + 60_000 - (await h.env.currentTimeMs()));
  const entered = await waitFor(
    async () => {
      const { rows } = await h.db.query<{ occurred_at: Date }>(
        "SELECT occurred_at FROM events WHERE name = $1 AND contact_id = 'dated'",
        [CALENDAR_DATE_REACHED],
      );
      return rows[0];
    },
    'the renewal entry',
    30_000,
  );
  expect(entered.occurred_at.toISOString()).toBe(at.toUTC().toISO({ suppressMilliseconds: false }));
  // Entered before the clock's next hourly look (+6 h) would have seen the flow.
  expect(await h.env.currentTimeMs()).toBeLessThan(start + 6 * HOUR);
  await waitFor(() => h.sendgrid.emails.some((e) => e.to === 'dated@example.com'), 'the renewal email', 30_000);
}, 120_000);
