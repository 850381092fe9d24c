/**
 * Every recorded journey history (test/histories/, see `npm run record-histories`) must
 * replay against the current workflow code: journeys already running in production are
 * resumed from exactly these histories.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { bundleJourneys } from './helpers/harness';

// histories/: recorded by `npm run record-histories` from the current code.
// histories/archive/: recorded by earlier releases, never re-recorded: journeys started by
// those releases may still be running, and the current code must resume them.
const dir = path.join(__dirname, 'histories');
const files = [
  ...readdirSync(dir).filter((f) => f.endsWith('.json')),
  ...readdirSync(path.join(dir, 'archive')).filter((f) => f.endsWith('.json')).map((f) => `archive/${f}`),
].sort();

function histories() {
  return files.map((file) => ({ workflowId: file.replace(/\.json$/, ''), history: historyFromJSON(JSON.parse(readFileSync(path.join(dir, file), 'utf8'))) }));
}

async function replayAll(workflowBundle: WorkflowBundleWithSourceMap) {
  const outcomes: { workflowId: string; error?: Error }[] = [];
  for await (const result of Worker.runReplayHistories({ workflowBundle }, histories())) {
    outcomes.push({ workflowId: result.workflowId, error: result.error });
  }
  return outcomes;
}

test('there are recorded histories to replay', () => {
  expect(files).toEqual(
    expect.arrayContaining([
      'archive/issue2-abandoned-cart-no-order.json',
      'archive/issue2-abandoned-cart-order-after-first-email.json',
      'abandoned-cart-no-order.json',
      'flow-language-tour.json',
      'quiet-hours-and-pause.json',
    ]),
  );
});

test('every recorded history replays against the current journey workflow', async () => {
  const outcomes = await replayAll(await bundleJourneys());
  expect(outcomes.map((o) => [o.workflowId, o.error?.message])).toEqual(files.map((f) => [f.replace(/\.json$/, ''), undefined]));
});

test('a non-deterministic change to the workflow fails the replay', async () => {
  const outcomes = await replayAll(await bundleJourneys(require.resolve('./fixtures/drifted-workflows')));
  expect(outcomes).toHaveLength(files.length);
  // By name: the error class is created inside the SDK's replay worker, not jest's module registry.
  expect(outcomes.map((o) => o.error?.name)).toEqual(files.map(() => 'DeterminismViolationError'));
});
