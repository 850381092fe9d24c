/**
 * "Today" for the date-sensitive suites: `PARCOURS_TEST_TODAY` (test-only, `YYYY-MM-DD`, or
 * `YYYY-MM-DDTHH:mm` for a time of day; UTC, 00:00 by default) or else the real clock at start.
 * The harness skips the time-skipping server forward to it (`Harness.start({ today: true })`),
 * and the suites derive every date from the server's clock after that skip, so that they pass
 * on any day and `npm run test:dates` can replay them on awkward days (29 February, 31 December,
 * the DST change days). The test server only moves forward: a past "today" is an error.
 */
import { DateTime } from 'luxon';

export const TEST_TODAY_VAR = 'PARCOURS_TEST_TODAY';
const FORMAT = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2})?$/;

export interface TestToday {
  /** The instant the suite's clock starts at (ms since the epoch). */
  startMs: number;
  /** Whether `PARCOURS_TEST_TODAY` chose it (else the real clock). */
  fixed: boolean;
}

/** Parses a "today" (see above); `now` is the real clock, which a fixed today may not precede. */
export function parseTestToday(value: string | undefined, now: number = Date.now()): TestToday {
  if (value === undefined || value.trim() === '') return { startMs: now, fixed: false };
  const text = value.trim();
  const start = FORMAT.test(text) ? DateTime.fromISO(text, { zone: 'utc' }) : undefined;
  if (!start?.isValid) throw new Error(`${TEST_TODAY_VAR}=${value}: expected YYYY-MM-DD or YYYY-MM-DDTHH:mm (UTC)`);
  // Today's own date (at 00:00) has already begun: the suite starts now, on that day.
  if (start.toMillis() < now && start.toISODate() === DateTime.fromMillis(now, { zone: 'utc' }).toISODate())
    return { startMs: now, fixed: true };
  if (start.toMillis() < now)
    throw new Error(`${TEST_TODAY_VAR}=${value} is past: the time-skipping server only moves forward`);
  return { startMs: start.toMillis(), fixed: true };
}

export const testToday = (now: number = Date.now()): TestToday => parseTestToday(process.env[TEST_TODAY_VAR], now);
