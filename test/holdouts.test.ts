/**
 * Holdout groups on real journeys: a flow keeping half of ~200 contacts as a control group.
 * Control contacts enter but receive nothing; orders drawn with known conversion rates per
 * group (seeded, so the run is repeatable) come back in the flow's stats as treated/control
 * numbers, the lift and a 95 % confidence interval that contains the designed difference.
 */
import { flowHoldoutKey, holdoutLift, isHeldOut } from '../audiences/holdout';
import type { FlowInput } from '../flows/schema';
import { waitFor } from './helpers/fake-http';
import { Harness } from './helpers/harness';

let h: Harness;
const DAY = 24 * 3_600_000;

beforeAll(async () => {
  h = await Harness.start();
});
afterAll(async () => {
  await h?.stop();
});

const CONTACTS = 200;
const SHARE = 0.5;
/** The designed scenario: who buys, per group, and for how much. */
const RATE = { treated: 0.45, control: 0.15 };
const ORDER_TOTAL = 40;

/** mulberry32: a small seeded generator, so the drawn orders are the same on every run. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const browseFlow: FlowInput = {
  name: 'Browse follow-up',
  status: 'live',
  trigger: { event: 'Browse Started' },
  goal: { event: 'Order Completed', exitOnGoal: false },
  smartSending: { enabled: false, hours: 16 },
  quietHours: { email: null, sms: null, push: null },
  holdout: { share: SHARE },
  steps: [{ id: 'picks', type: 'email', subject: 'Picked for you', html: '<p>Our picks</p>' }],
};

const ids = Array.from({ length: CONTACTS }, (_, i) => `hold-${String(i).padStart(3, '0')}`);
const inControl = (id: string) => isHeldOut(flowHoldoutKey('browse'), id, SHARE);

async function inBatches<T>(items: T[], size: number, run: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(run));
}

test('holdout: control enters but receives nothing; stats show both groups, the lift and its 95 % CI', async () => {
  await h.putFlow('browse', browseFlow);
  await inBatches(ids, 20, async (id) => {
    await h.identify(id, { email: `${id}@example.com` });
    const res = await h.track({ userId: id, event: 'Browse Started', messageId: `browse-${id}` });
    expect(res.journeys.started).toHaveLength(1);
  });
  await waitFor(
    async () => {
      const { rows } = await h.db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM journeys WHERE flow_id = 'browse' AND status = 'completed'",
      );
      return rows[0].n === CONTACTS;
    },
    'every journey to complete',
    120_000,
  );

  const control = ids.filter(inControl);
  const treated = ids.filter((id) => !inControl(id));
  // Sticky by hash, about half each.
  expect(control.length).toBeGreaterThan(70);
  expect(treated.length).toBeGreaterThan(70);
  expect(ids.filter(inControl)).toEqual(control);

  // Control received nothing; every treated contact got the email once.
  const emailed = new Set(h.sendgrid.emails.map((e) => e.to));
  expect(control.filter((id) => emailed.has(`${id}@example.com`))).toEqual([]);
  expect(treated.filter((id) => !emailed.has(`${id}@example.com`))).toEqual([]);
  expect(h.sendgrid.emails).toHaveLength(treated.length);
  const { rows: skips } = await h.db.query<{ reason: string }>(
    "SELECT reason FROM messages WHERE flow_id = 'browse' AND status = 'skipped'",
  );
  expect(skips).toHaveLength(control.length);
  expect(skips.every((s) => s.reason === "holdout: control group (50 % of the flow's contacts)")).toBe(true);

  // Orders within the attribution window (5 days from entry), drawn per group.
  const random = seeded(20261130);
  const converters = new Set(ids.filter((id) => random() < (inControl(id) ? RATE.control : RATE.treated)));
  await inBatches([...converters], 20, (id) =>
    h.track({ userId: id, event: 'Order Completed', properties: { total: ORDER_TOTAL }, messageId: `order-${id}` }),
  );
  // A week later, more orders: outside the window, they count for nobody.
  await h.env.sleep(7 * DAY);
  await inBatches(
    ids.filter((_, i) => i % 10 === 0),
    20,
    (id) => h.track({ userId: id, event: 'Order Completed', properties: { total: 500 }, messageId: `late-${id}` }),
  );

  const res = await h.http('get', '/v1/flows/browse/stats');
  expect(res.status).toBe(200);
  const { holdout } = res.body;
  const convertedIn = (group: string[]) => group.filter((id) => converters.has(id)).length;
  expect(holdout.versions).toEqual([{ version: 1, share: SHARE }]);
  expect(holdout.treated).toMatchObject({
    contacts: treated.length,
    converters: convertedIn(treated),
    conversions: convertedIn(treated),
    revenue: convertedIn(treated) * ORDER_TOTAL,
  });
  expect(holdout.control).toMatchObject({
    contacts: control.length,
    converters: convertedIn(control),
    conversions: convertedIn(control),
    revenue: convertedIn(control) * ORDER_TOTAL,
  });
  expect(holdout.treated.conversionRate).toBeCloseTo(convertedIn(treated) / treated.length, 6);
  expect(holdout.control.revenuePerContact).toBeCloseTo((convertedIn(control) * ORDER_TOTAL) / control.length, 6);
  expect(res.body.versions[0].steps[0].skippedByReason).toEqual({ holdout: control.length });

  // The designed difference lies inside the 95 % intervals, and zero does not.
  const trueRateLift = RATE.treated - RATE.control;
  const { conversionRate, revenuePerContact } = holdout.lift;
  expect(conversionRate.ci95[0]).toBeLessThan(trueRateLift);
  expect(conversionRate.ci95[1]).toBeGreaterThan(trueRateLift);
  expect(conversionRate.ci95[0]).toBeGreaterThan(0);
  expect(revenuePerContact.ci95[0]).toBeLessThan(trueRateLift * ORDER_TOTAL);
  expect(revenuePerContact.ci95[1]).toBeGreaterThan(trueRateLift * ORDER_TOTAL);
  expect(conversionRate.relative).toBeCloseTo(conversionRate.absolute / holdout.control.conversionRate, 4);
  expect(holdout.method).toMatch(/normal approximation/);

  // Flows without a holdout have none in their stats.
  await h.putFlow('no-holdout', { ...browseFlow, trigger: { event: 'Nothing' }, holdout: undefined });
  expect((await h.http('get', '/v1/flows/no-holdout/stats')).body.holdout).toBeNull();
}, 240_000);

test('the lift statistics: difference of proportions (Wald) and of means (Welch), by hand', () => {
  // 45 of 100 treated converted, 15 of 100 control; revenue 40 per converter.
  const lift = holdoutLift(
    { contacts: 100, converters: 45, conversions: 45, revenue: 1800, revenueSquares: 45 * 1600 },
    { contacts: 100, converters: 15, conversions: 15, revenue: 600, revenueSquares: 15 * 1600 },
  );
  expect(lift.lift.conversionRate.absolute).toBeCloseTo(0.3, 6);
  expect(lift.lift.conversionRate.relative).toBeCloseTo(2, 6);
  // SE = sqrt(.45 × .55 / 100 + .15 × .85 / 100) = 0.0612372
  expect(lift.lift.conversionRate.ci95![0]).toBeCloseTo(0.3 - 1.959964 * 0.0612372, 5);
  expect(lift.lift.conversionRate.ci95![1]).toBeCloseTo(0.3 + 1.959964 * 0.0612372, 5);
  // Revenue per contact 18 vs 6; sample variances 1600 × p(1-p) × n/(n-1).
  const se = Math.sqrt((1600 * 0.45 * 0.55 * 100) / 99 / 100 + (1600 * 0.15 * 0.85 * 100) / 99 / 100);
  expect(lift.lift.revenuePerContact.absolute).toBeCloseTo(12, 6);
  expect(lift.lift.revenuePerContact.ci95![0]).toBeCloseTo(12 - 1.959964 * se, 4);
  // Too few contacts for an interval; no control conversions, no relative lift.
  const thin = holdoutLift(
    { contacts: 1, converters: 1, conversions: 1, revenue: 10, revenueSquares: 100 },
    { contacts: 5, converters: 0, conversions: 0, revenue: 0, revenueSquares: 0 },
  );
  expect(thin.lift.conversionRate).toEqual({ absolute: 1, relative: null, ci95: null });
});

test('a control contact still gets transactional messages (receipts are not the treatment)', async () => {
  await h.putFlow('order-holdout', {
    ...browseFlow,
    trigger: { event: 'Order Placed' },
    holdout: { share: 0.9 },
    steps: [
      { id: 'receipt', type: 'email', subject: 'Your receipt', html: '<p>Thanks</p>', transactional: true },
      { id: 'upsell', type: 'email', subject: 'You may also like', html: '<p>More</p>' },
    ],
  });
  const id = ids.find((c) => isHeldOut(flowHoldoutKey('order-holdout'), c, 0.9))!;
  await h.track({ userId: id, event: 'Order Placed', messageId: `placed-${id}` });
  const result = await h.result('order-holdout', id);
  expect(
    h.sendgrid.emails
      .filter((e) => e.to === `${id}@example.com` && e.subject !== 'Picked for you')
      .map((e) => e.subject),
  ).toEqual(['Your receipt']);
  expect(result.steps.map((s) => s.outcome)).toEqual([
    'sent via sendgrid',
    "skipped (holdout: control group (90 % of the flow's contacts))",
  ]);
});
