/**
 * `npm run test:dates`: the date-sensitive suites, once per awkward "today" (PARCOURS_TEST_TODAY,
 * read by test/helpers/today.ts; the harness skips the time-skipping server to 00:00 UTC that
 * day): the next 28 February of a non-leap year, the next 29 February, the next 31 December, the
 * next spring and autumn DST change days in Paris and New York, and today (the real clock). The
 * days are computed from the real clock, so the check keeps its meaning in later years.
 *
 * `npm run test:dates -- 2027-03-28 2028-02-29` runs those days only.
 */
import { spawnSync } from 'node:child_process';
import { DateTime } from 'luxon';

/**
 * The suites that start their server at the test "today" (`Harness.start({ today: true })`):
 * whole, and in the larger ones only the tests whose dates or local hours move with it (jest's
 * -t). Two jest runs a day: each bundles the workflows once.
 */
export const DATE_RUNS: { files: string[]; only?: string }[] = [
  { files: ['test/date-triggers.test.ts', 'test/calendar.test.ts'] },
  {
    files: ['test/campaigns-extras.test.ts', 'test/campaigns.test.ts', 'test/flow-steps.test.ts'],
    only: 'calendar moment|local-time send|recurring daily|delay until|quiet hours',
  },
];

export interface AwkwardDay {
  label: string;
  /** YYYY-MM-DD; undefined: the real clock. */
  day?: string;
}

const DST_ZONES = { Paris: 'Europe/Paris', 'New York': 'America/New_York' };

/** The first day on or after `from` for which `test` holds (29 February: up to eight years on). */
function firstDay(from: DateTime, test: (d: DateTime) => boolean): DateTime {
  for (let d = from.startOf('day'), i = 0; i < 3_000; d = d.plus({ days: 1 }), i += 1) if (test(d)) return d;
  throw new Error('no such day within eight years');
}

/** The awkward days to come, counted from `now` (a UTC instant). */
export function awkwardDays(now: DateTime = DateTime.utc()): AwkwardDay[] {
  const today = now.toUTC().startOf('day');
  const days: AwkwardDay[] = [
    { label: 'today (the real clock)' },
    {
      label: '28 February of a non-leap year',
      day: firstDay(today, (d) => d.month === 2 && d.day === 28 && !d.isInLeapYear).toISODate()!,
    },
    { label: '29 February', day: firstDay(today, (d) => d.month === 2 && d.day === 29).toISODate()! },
    { label: '31 December', day: firstDay(today, (d) => d.month === 12 && d.day === 31).toISODate()! },
  ];
  for (const [city, zone] of Object.entries(DST_ZONES)) {
    const local = (d: DateTime) => DateTime.fromISO(d.toISODate()!, { zone });
    // A change day: the local day does not start and end at the same offset.
    const changes = (d: DateTime) => local(d).startOf('day').offset !== local(d).endOf('day').offset;
    const spring = firstDay(today, (d) => changes(d) && local(d).endOf('day').offset > local(d).startOf('day').offset);
    const autumn = firstDay(today, (d) => changes(d) && local(d).endOf('day').offset < local(d).startOf('day').offset);
    days.push({ label: `${city}: clocks forward`, day: spring.toISODate()! });
    days.push({ label: `${city}: clocks back`, day: autumn.toISODate()! });
  }
  return days;
}

function main(): void {
  const asked = process.argv.slice(2);
  const days = asked.length ? asked.map((day) => ({ label: 'asked', day })) : awkwardDays();
  const results: { label: string; day: string; ok: boolean; seconds: number }[] = [];
  for (const { label, day } of days) {
    process.stdout.write(`\n=== ${label}: PARCOURS_TEST_TODAY=${day ?? '(unset)'}\n`);
    const started = Date.now();
    const env = { ...process.env };
    if (day) env.PARCOURS_TEST_TODAY = day;
    else delete env.PARCOURS_TEST_TODAY;
    let ok = true;
    for (const { files, only } of DATE_RUNS) {
      const run = spawnSync('npx', ['jest', '--runInBand', ...files, ...(only ? ['-t', only] : [])], {
        stdio: 'inherit',
        env,
      });
      ok &&= run.status === 0;
    }
    results.push({ label, day: day ?? 'today', ok, seconds: (Date.now() - started) / 1000 });
  }
  process.stdout.write('\ntest:dates\n');
  for (const r of results)
    process.stdout.write(
      `${r.ok ? 'pass' : 'FAIL'}  ${r.day.padEnd(10)}  ${r.label.padEnd(32)} ${r.seconds.toFixed(0)} s\n`,
    );
  if (results.some((r) => !r.ok)) process.exit(1);
}

if (require.main === module) main();
