/**
 * Background work that must survive failures, on the real servers (Postgres, the time-skipping
 * Temporal server, the worker with the real activities, the real SendGrid client at the fake):
 * a campaign whose audience freeze failed half way (a real failing statement inside it) sends to
 * everyone on the retry; a wake signalled while the calendar clock ticks is honoured; a contact
 * whose date trait is written while the clock sleeps is entered at its time, not at the next
 * hourly tick; erasing a contact ends their segment clock, whose id no longer holds their address.
 */
import { DateTime } from 'luxon';
import { CALENDAR_DATE_REACHED } from '../flows/date-triggers';
import { legacySegmentClockWorkflowId, segmentClockWorkflowId } from '../routing/segment-clock-arming';
import { ensureCalendarClock } from '../worker/calendar-clock';
import { JOURNEY_TASK_QUEUE } from '../runtime/journey-identity';
import type { segmentClockWorkflow } from '../workflows/segment-clock';
import type { CampaignProgress } from '../workflows/campaign-messages';
import { CALENDAR_CLOCK_WORKFLOW_ID } from '../workflows/calendar-clock';
import { campaignHelpers } from './helpers/campaigns';
import { waitFor } from './helpers/fake-http';
import { Harness } from './helpers/harness';
import { recordHistory } from './helpers/histories';

let h: Harness;
const { createList, putCampaign, run, deliveries } = campaignHelpers(() => h);
const HOUR = 3_600_000;
const YEARS = 400 * 86_400_000;

beforeAll(async () => {
  h = await Harness.start({ consentEmail: 'opt_out' });
}, 120_000);
afterAll(() => h?.stop());

test('a campaign whose audience freeze failed after its first statement sends to everyone on the retry', async () => {
  const ids = ['fz-ann', 'fz-bob', 'fz-cat'];
  for (const id of ids) await h.identify(id, { email: `${id}@example.com` });
  await createList('fz-list', ids);
  // A real failure inside the freeze, after the run row is written: the first write of the
  // audience raises (a sequence is not transactional, so the second attempt passes).
  await h.db.query(`
    CREATE SEQUENCE freeze_attempts;
    CREATE FUNCTION fail_first_freeze() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF nextval('freeze_attempts') = 1 THEN RAISE EXCEPTION 'injected: the freeze was interrupted'; END IF;
      RETURN NULL;
    END $$;
    CREATE TRIGGER fail_first_freeze AFTER INSERT ON campaign_recipients
      FOR EACH STATEMENT EXECUTE FUNCTION fail_first_freeze();`);
  try {
    await putCampaign('frozen-twice', {
      name: 'Frozen twice',
      message: { type: 'email', subject: 'News', html: '<p>News</p><a href="{{ unsubscribe_url }}">unsubscribe</a>' },
      audience: { lists: ['fz-list'] },
    });
    expect((await h.http('post', '/v1/campaigns/frozen-twice/send')).status).toBe(202);
    const result = (await run('frozen-twice').result()) as CampaignProgress;
    expect(result).toMatchObject({ status: 'completed', recipients: 3, sent: 3 });
    expect(
      deliveries('frozen-twice')
        .map((d) => d.to)
        .sort(),
    ).toEqual(ids.map((id) => `${id}@example.com`));
    // The failure did happen: the first attempt failed, the retry froze.
    const { rows } = await h.db.query<{ n: number }>('SELECT last_value::int AS n FROM freeze_attempts');
    expect(rows[0].n).toBe(2);
  } finally {
    await h.db.query('DROP TRIGGER fail_first_freeze ON campaign_recipients');
  }
}, 120_000);

/** The clock has finished its n-th tick and started the sleep after it. */
async function clockSleepsAfterTick(n: number): Promise<void> {
  const clock = h.env.client.workflow.getHandle(CALENDAR_CLOCK_WORKFLOW_ID);
  await waitFor(
    async () => {
      const events = (await clock.fetchHistory()).events ?? [];
      let ticks = 0;
      for (const e of events) {
        if (e.activityTaskCompletedEventAttributes) ticks += 1;
        if (ticks >= n && e.timerStartedEventAttributes) return true;
      }
      return false;
    },
    `the calendar clock asleep after tick ${n}`,
    30_000,
  );
}

async function entryOf(contactId: string): Promise<Date> {
  return waitFor(
    async () => {
      const { rows } = await h.db.query<{ occurred_at: Date }>(
        'SELECT occurred_at FROM events WHERE name = $1 AND contact_id = $2',
        [CALENDAR_DATE_REACHED, contactId],
      );
      return rows[0]?.occurred_at;
    },
    `the date entry of ${contactId}`,
    30_000,
  );
}

const dateFlow = (property: string, at: DateTime) => ({
  name: property,
  status: 'live' as const,
  smartSending: { enabled: false },
  trigger: { date: { property, at: at.toFormat('HH:mm') } },
  steps: [{ id: 'wish', type: 'email' as const, subject: `About your ${property}`, html: '<p>hi</p>' }],
});

test('a date flow saved while the calendar clock ticks wakes it: the wake is not erased by the tick', async () => {
  const start = await h.env.currentTimeMs();
  const at = DateTime.fromMillis(start + 2 * HOUR, { zone: 'UTC' }).startOf('minute');
  await h.identify('wake-ann', {
    email: 'wake-ann@example.com',
    anniversary: at.minus({ years: 3 }).toISODate(),
    timezone: 'UTC',
  });
  // Holds the clock's first tick after it has read the flows (it reads the zones next).
  const blocker = await h.db.connect();
  try {
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE calendar_zones IN ACCESS EXCLUSIVE MODE');
    // Sleeps far longer than the test: only the wake can make it see the flow.
    await ensureCalendarClock(h.env.client.workflow, { maxSleepMs: YEARS, lookMs: YEARS });
    await waitFor(
      async () =>
        (
          await h.db.query(
            `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
               AND query LIKE '%FROM calendar_zones%'`,
          )
        ).rowCount === 1,
      'the tick waiting on the zones',
      30_000,
    );
    // Saved live while the tick runs: the API wakes the clock (a signal during the tick).
    await h.putFlow('anniversary', dateFlow('anniversary', at));
  } finally {
    await blocker.query('COMMIT');
    blocker.release();
  }
  await clockSleepsAfterTick(2);
  await h.env.sleep(at.toMillis() + 60_000 - (await h.env.currentTimeMs()));
  expect((await entryOf('wake-ann')).toISOString()).toBe(at.toUTC().toISO());
  const clock = h.env.client.workflow.getHandle(CALENDAR_CLOCK_WORKFLOW_ID);
  await clock.terminate('next test');
  await recordHistory('calendar-clock', 'wake-during-tick', clock);
}, 120_000);

test('a contact whose date trait is written while the clock sleeps is entered at its time, not at the next tick', async () => {
  const start = await h.env.currentTimeMs();
  const at = DateTime.fromMillis(start + 10 * 60_000, { zone: 'UTC' }).startOf('minute');
  await h.putFlow('renewal', dateFlow('renewal', at));
  // The default clock: a tick at least every hour, a look every minute.
  await ensureCalendarClock(h.env.client.workflow);
  await clockSleepsAfterTick(1);
  // Written while the clock sleeps (it has nothing to enter, so it would tick again in an hour).
  await h.identify('renew-bob', {
    email: 'renew-bob@example.com',
    renewal: at.minus({ years: 1 }).toISODate(),
    timezone: 'UTC',
  });
  await h.env.sleep(at.toMillis() + 60_000 - (await h.env.currentTimeMs()));
  expect((await entryOf('renew-bob')).toISOString()).toBe(at.toUTC().toISO());
  expect(await h.env.currentTimeMs()).toBeLessThan(start + HOUR);
  await waitFor(() => h.sendgrid.emails.some((e) => e.to === 'renew-bob@example.com'), 'the renewal email', 30_000);
  const clock = h.env.client.workflow.getHandle(CALENDAR_CLOCK_WORKFLOW_ID);
  await clock.terminate('done');
  await recordHistory('calendar-clock', 'minute-look', clock);
}, 120_000);

test('erasing a contact ends their segment clock, whose id does not hold their address, and a clock armed before', async () => {
  const res = await h.http('post', '/v1/segments').send({
    id: 'lapsed',
    name: 'Lapsed',
    condition: { event: 'Order Completed', last: { op: 'more_than_ago', value: '90 days' } },
  });
  expect(res.status).toBe(202);
  await waitFor(async () => (await h.http('get', '/v1/segments/lapsed')).body.status === 'ready', 'segment built');
  const id = 'Zoe.Clock@example.com';
  await h.identify(id, { email: id });
  await h.track({ userId: id, event: 'Order Completed', properties: { total: 30 }, messageId: 'clock-order' });
  const clock = h.env.client.workflow.getHandle(segmentClockWorkflowId(id));
  await waitFor(async () => (await clock.describe().catch(() => undefined))?.status.name === 'RUNNING', 'the clock');
  expect(clock.workflowId.toLowerCase()).not.toContain('example.com');
  // A clock a release before the hash armed, named by the contact id itself.
  const legacy = await h.env.client.workflow.start<typeof segmentClockWorkflow>('segmentClockWorkflow', {
    taskQueue: JOURNEY_TASK_QUEUE,
    workflowId: legacySegmentClockWorkflowId(id),
    args: [{ contactId: id, dueAt: (await h.env.currentTimeMs()) + 90 * 86_400_000 }],
  });

  const erased = await h.http('delete', `/v1/contacts/${encodeURIComponent(id)}`);
  expect(erased.status).toBe(200);
  expect((await clock.describe()).status.name).toBe('TERMINATED');
  expect((await legacy.describe()).status.name).toBe('TERMINATED');
}, 120_000);
