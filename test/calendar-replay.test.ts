/**
 * The recorded calendar clock histories (test/histories/calendar-clock/, recorded by
 * `RECORD_HISTORIES=1 npx jest test/date-triggers.test.ts test/background.test.ts`, and the
 * archive of earlier releases' recordings) replay against the current code: the clock sleeps
 * for months between entries and must resume on the code deployed then.
 */
import { bundleJourneys } from './helpers/harness';
import { recordedFiles, replayRecorded } from './helpers/histories';

test('every recorded calendar clock history replays against the current code', async () => {
  const files = recordedFiles('calendar-clock');
  expect(files).toEqual(
    expect.arrayContaining(['wake-during-tick.json', 'minute-look.json', 'archive/pre-issue15-a-year-of-dates.json']),
  );
  expect(await replayRecorded('calendar-clock', await bundleJourneys())).toEqual(files.map((f) => [f, undefined]));
});
