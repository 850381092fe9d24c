/**
 * Recorded segment clock and segment build histories (test/histories/segment-clock/ and
 * segment-build/, recorded by `RECORD_HISTORIES=1 npx jest test/segments.test.ts`, with their
 * archives) replay against the current workflow code: clocks armed in production sleep for
 * months, and a build may be under way during a deployment.
 */
import { bundleJourneys } from './helpers/harness';
import { recordedFiles, replayRecorded } from './helpers/histories';

test('every recorded segment clock history replays against the current code', async () => {
  const files = recordedFiles('segment-clock');
  expect(files).toContain('lapsed-entry.json');
  expect(await replayRecorded('segment-clock', await bundleJourneys())).toEqual(files.map((f) => [f, undefined]));
});

test('every recorded segment build history replays against the current code', async () => {
  const files = recordedFiles('segment-build');
  expect(files).toEqual(expect.arrayContaining(['base-build.json', 'resumed-after-failure.json']));
  expect(await replayRecorded('segment-build', await bundleJourneys())).toEqual(files.map((f) => [f, undefined]));
});
