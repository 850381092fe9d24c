/**
 * The recorded calendar clock history (test/histories/calendar-clock/, recorded by
 * `RECORD_HISTORIES=1 npx jest test/date-triggers.test.ts`) replays against the current code:
 * the clock sleeps for months between entries and must resume on the code deployed then.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { bundleJourneys } from './helpers/harness';

const dir = path.join(__dirname, 'histories', 'calendar-clock');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort();

test('every recorded calendar clock history replays against the current code', async () => {
  expect(files).toContain('a-year-of-dates.json');
  const histories = files.map((file) => ({
    workflowId: file.replace(/\.json$/, ''),
    history: historyFromJSON(JSON.parse(readFileSync(path.join(dir, file), 'utf8'))),
  }));
  const outcomes: [string, string | undefined][] = [];
  for await (const result of Worker.runReplayHistories({ workflowBundle: await bundleJourneys() }, histories))
    outcomes.push([result.workflowId, result.error?.message]);
  expect(outcomes).toEqual(files.map((f) => [f.replace(/\.json$/, ''), undefined]));
});
