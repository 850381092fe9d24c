/**
 * delay_until with a date: offsets in days and weeks are calendar days in the contact's zone,
 * numeric dates follow one rule (below 1e11 Unix seconds, else milliseconds), and time zone
 * names are checked when the flow is saved.
 */
import { DateTime } from 'luxon';
import { wakeTime } from '../activities/clock';
import type { FlowInput, StepOf } from '../flows/schema';
import { Harness } from './helpers/harness';
import { waitFor } from './helpers/fake-http';

const renewal = (extra: Partial<StepOf<'delay_until'>> = {}): StepOf<'delay_until'> =>
  ({
    id: 'before-renewal',
    type: 'delay_until',
    date: 'contact.renewal_date',
    offset: '-3 days',
    ...extra,
  }) as StepOf<'delay_until'>;
const zone = 'America/New_York';
const at = (ms: number) => DateTime.fromMillis(ms, { zone }).toISO();
const wake = (step: StepOf<'delay_until'>, renewalDate: unknown, now = Date.parse('2026-01-01T00:00:00Z')) => {
  const result = wakeTime(step, now, zone, { contact: { renewal_date: renewalDate }, event: {} });
  if ('error' in result) throw new Error(result.error);
  return at(result.at);
};

describe('offsets in days and weeks are calendar offsets in the contact zone', () => {
  // New York moves its clocks forward on 2026-03-08: from the 7th to the 10th is 71 hours.
  test('"-3 days" from 10:00 on the 10th of March is 10:00 on the 7th, across the DST change', () => {
    expect(wake(renewal(), '2026-03-10T10:00:00')).toBe('2026-03-07T10:00:00.000-05:00');
  });

  test('"1 week" after 09:30 on the 3rd of November (DST ended on the 1st) is 09:30 on the 10th', () => {
    expect(wake(renewal({ offset: '1 week' }), '2026-11-03T09:30:00')).toBe('2026-11-10T09:30:00.000-05:00');
    expect(wake(renewal({ offset: '-1 week' }), '2026-11-03T09:30:00')).toBe('2026-10-27T09:30:00.000-04:00');
  });

  test('hours stay exact durations: "-72 hours" across the change is 72 real hours', () => {
    expect(wake(renewal({ offset: '-72 hours' }), '2026-03-10T10:00:00')).toBe('2026-03-07T09:00:00.000-05:00');
  });

  test('with `at`, the time of day is set after the calendar offset', () => {
    expect(wake(renewal({ at: '08:15' }), '2026-03-10T22:00:00')).toBe('2026-03-07T08:15:00.000-05:00');
  });
});

describe('numeric dates: below 1e11 Unix seconds, else milliseconds', () => {
  const seconds = Date.parse('2026-03-10T15:00:00Z') / 1000; // 10:00 in New York (EDT, -4)
  test.each([
    ['Unix seconds', seconds],
    ['Unix milliseconds', seconds * 1000],
    ['Unix seconds in a string', String(seconds)],
    ['Unix milliseconds in a string', String(seconds * 1000)],
  ])('%s', (_name, value) => {
    expect(wake(renewal({ offset: undefined }), value)).toBe('2026-03-10T11:00:00.000-04:00');
  });

  test('seconds are not read as milliseconds of 1970 (which would fire at once)', () => {
    expect(wake(renewal(), seconds)).toBe('2026-03-07T11:00:00.000-05:00');
  });
});

describe('in a flow', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await Harness.start();
  });
  afterAll(() => h?.stop());

  const flow = (timezone?: string): FlowInput =>
    ({
      name: 'Renewal reminder',
      status: 'live',
      trigger: { event: 'Plan Renewed' },
      smartSending: { enabled: false },
      quietHours: { email: null, sms: null, push: null },
      steps: [
        {
          id: 'before-renewal',
          type: 'delay_until',
          date: 'contact.renewal_date',
          offset: '-3 days',
          ...(timezone ? { timezone } : {}),
        },
        { id: 'reminder', type: 'email', subject: 'Your plan renews in 3 days', html: '<p>See you</p>' },
      ],
    }) as FlowInput;

  test('an unknown time zone name is a 400 naming the step when the flow is saved', async () => {
    const res = await h.http('put', '/v1/flows/renewal-bad-zone').send(flow('Mars/Olympus_Mons'));
    expect(res.status).toBe(400);
    expect(res.body.error.issues).toEqual([
      {
        path: ['steps', 0, 'timezone'],
        message: expect.stringMatching(/"Mars\/Olympus_Mons" is not an IANA time zone/),
      },
    ]);
  });

  test('a renewal date in Unix seconds waits until 3 calendar days before it in the contact zone', async () => {
    await h.putFlow('renewal', flow(zone));
    const now = await h.env.currentTimeMs();
    // Ten days ahead, at 10:00 in New York, as Unix seconds (what many billing systems store).
    const renewsAt = DateTime.fromMillis(now, { zone })
      .plus({ days: 10 })
      .set({ hour: 10, minute: 0, second: 0, millisecond: 0 });
    await h.identify('renewer', { email: 'renewer@example.com', renewal_date: Math.floor(renewsAt.toSeconds()) });
    await h.track({ userId: 'renewer', event: 'Plan Renewed' });
    const state = await waitFor(async () => {
      const s = await h.state('renewal', 'renewer');
      return s.currentStep === 'before-renewal' && s.waitingUntil ? s : undefined;
    }, 'the journey to wait for the renewal date');
    expect(DateTime.fromISO(state.waitingUntil!, { zone }).toISO()).toBe(renewsAt.minus({ days: 3 }).toISO());
    expect(h.sendgrid.emails.filter((e) => e.to === 'renewer@example.com')).toEqual([]);
    await h.result('renewal', 'renewer');
    expect(h.sendgrid.emails.filter((e) => e.to === 'renewer@example.com').map((e) => e.subject)).toEqual([
      'Your plan renews in 3 days',
    ]);
  });
});
