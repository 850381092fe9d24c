/**
 * Recorded histories of the background workflows (test/histories/flow-status/ recorded by
 * `RECORD_HISTORIES=1 npx jest test/input-flows.test.ts`, test/histories/maintenance/ by
 * `RECORD_HISTORIES=1 npx jest test/maintenance-schedule.test.ts`, with their archives) replay
 * against the current workflow code: one may be under way during a deployment.
 */
import { bundleJourneys } from './helpers/harness';
import { recordedFiles, replayRecorded } from './helpers/histories';

test('every recorded flow-status history replays against the current code', async () => {
  const files = recordedFiles('flow-status');
  expect(files).toContain('archived-three-journeys.json');
  expect(await replayRecorded('flow-status', await bundleJourneys())).toEqual(files.map((f) => [f, undefined]));
});

test('every recorded maintenance history replays against the current code', async () => {
  const files = recordedFiles('maintenance');
  expect(files).toContain('scheduled-pass.json');
  expect(await replayRecorded('maintenance', await bundleJourneys())).toEqual(files.map((f) => [f, undefined]));
});
