/**
 * Recorded segment clock histories (test/histories/segment-clock/, recorded by
 * `RECORD_HISTORIES=1 npx jest test/segments.test.ts`) replay against the current workflow code:
 * clocks armed in production sleep for months and must resume on the code deployed then.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { bundleJourneys } from './helpers/harness';

const dir = path.join(__dirname, 'histories', 'segment-clock');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort();

test('every recorded segment clock history replays against the current code', async () => {
  expect(files).toContain('lapsed-entry.json');
  const histories = files.map((file) => ({
    workflowId: file.replace(/\.json$/, ''),
    history: historyFromJSON(JSON.parse(readFileSync(path.join(dir, file), 'utf8'))),
  }));
  const outcomes: [string, string | undefined][] = [];
  for await (const result of Worker.runReplayHistories({ workflowBundle: await bundleJourneys() }, histories))
    outcomes.push([result.workflowId, result.error?.message]);
  expect(outcomes).toEqual(files.map((f) => [f.replace(/\.json$/, ''), undefined]));
});
