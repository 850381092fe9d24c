/**
 * Recorded campaign histories (test/histories/campaign/, recorded by
 * `RECORD_HISTORIES=1 npx jest test/campaigns.test.ts`, with the archive of earlier releases') replay against the current workflow code:
 * a scheduled or throttled campaign sleeps for days and must resume on the code deployed then.
 */
import { bundleJourneys } from './helpers/harness';
import { recordedFiles, replayRecorded } from './helpers/histories';

test('every recorded campaign history replays against the current code', async () => {
  const files = recordedFiles('campaign');
  expect(files).toEqual(
    expect.arrayContaining([
      'newsletter.json',
      'paused-resumed-cancelled.json',
      'local-time.json',
      'recurring-cancelled.json',
      'ab-test.json',
      // Yearly moments: the former rule (earliest zone) and the per-zone one (patch campaign-moment-per-zone).
      'moment-yearly-cancelled.json',
      'moment-yearly-on-the-day.json',
      // A one-off moment run whose passed zones wait for the following occurrence (issue 16).
      'moment-on-the-day.json',
    ]),
  );
  expect(await replayRecorded('campaign', await bundleJourneys())).toEqual(files.map((f) => [f, undefined]));
});
