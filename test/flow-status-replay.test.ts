/**
 * Recorded flow-status histories (test/histories/flow-status/, recorded by
 * `RECORD_HISTORIES=1 npx jest test/input-flows.test.ts`, with their archive) replay against
 * the current workflow code: a notice may be under way during a deployment.
 */
import { bundleJourneys } from './helpers/harness';
import { recordedFiles, replayRecorded } from './helpers/histories';

test('every recorded flow-status history replays against the current code', async () => {
  const files = recordedFiles('flow-status');
  expect(files).toContain('archived-three-journeys.json');
  expect(await replayRecorded('flow-status', await bundleJourneys())).toEqual(files.map((f) => [f, undefined]));
});
