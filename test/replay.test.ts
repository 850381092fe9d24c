/**
 * Every recorded journey history (test/histories/, see `npm run record-histories`) must
 * replay against the current workflow code: journeys already running in production are
 * resumed from exactly these histories.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { bundleWorkflowCode, DefaultLogger, Worker, type WorkflowBundleOption } from '@temporalio/worker';
import { NormalModuleReplacementPlugin } from 'webpack';
import { bundleJourneys } from './helpers/harness';

// histories/: recorded by `npm run record-histories` from the current code.
// histories/archive/: recorded by earlier releases, never re-recorded: journeys started by
// those releases may still be running, and the current code must resume them.
const dir = path.join(__dirname, 'histories');
const files = [
  ...readdirSync(dir).filter((f) => f.endsWith('.json')),
  ...readdirSync(path.join(dir, 'archive'))
    .filter((f) => f.endsWith('.json'))
    .map((f) => `archive/${f}`),
].sort();

function histories(only: readonly string[] = files) {
  return only.map((file) => ({
    workflowId: file.replace(/\.json$/, ''),
    history: historyFromJSON(JSON.parse(readFileSync(path.join(dir, file), 'utf8'))),
  }));
}

async function replayAll(workflowBundle: WorkflowBundleOption, only?: readonly string[]) {
  const outcomes: { workflowId: string; error?: Error }[] = [];
  for await (const result of Worker.runReplayHistories({ workflowBundle }, histories(only))) {
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
      // Every condition feature evaluated inside the workflow, exits, a duplicated signal and
      // a continue-as-new (both runs).
      'conditions-tour.json',
      'goal-exit.json',
      'unsubscribed-exit.json',
      'archived-exit.json',
      'continue-as-new-first-run.json',
      'continue-as-new-last-run.json',
    ]),
  );
});

test('every recorded history replays against the current journey workflow', async () => {
  const outcomes = await replayAll(await bundleJourneys());
  expect(outcomes.map((o) => [o.workflowId, o.error?.message])).toEqual(
    files.map((f) => [f.replace(/\.json$/, ''), undefined]),
  );
});

test('a non-deterministic change to the workflow fails the replay', async () => {
  const outcomes = await replayAll(await bundleJourneys(require.resolve('./fixtures/drifted-workflows')));
  expect(outcomes).toHaveLength(files.length);
  // By name: the error class is created inside the SDK's replay worker, not jest's module registry.
  expect(outcomes.map((o) => o.error?.name)).toEqual(files.map(() => 'DeterminismViolationError'));
});

/**
 * The journey bundled with a drifted copy of the shared condition code (flows/conditions.ts
 * swapped for test/fixtures/drifted-conditions/conditions.ts): the workflow code itself is
 * unchanged, yet journeys whose recorded decisions depended on conditions must fail to replay.
 */
test('a change in shared condition code fails the replay of the journeys it decided', async () => {
  const real = path.join(__dirname, '..', 'flows', 'conditions');
  const drifted = path.join(__dirname, 'fixtures', 'drifted-conditions', 'conditions.ts');
  const workflowBundle = await bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    logger: new DefaultLogger('WARN'),
    webpackConfigHook: (config) => ({
      ...config,
      plugins: [
        ...(config.plugins ?? []),
        new NormalModuleReplacementPlugin(
          /conditions$/,
          (resource: { request: string; context: string; contextInfo?: { issuer?: string } }) => {
            // Every import of flows/conditions, except the drifted copy's own import of it.
            if (path.resolve(resource.context, resource.request) === real && resource.contextInfo?.issuer !== drifted)
              resource.request = drifted;
          },
        ),
      ],
    }),
  });
  const decidedByConditions = [
    'conditions-tour.json',
    'abandoned-cart-order-after-first-email.json',
    'continue-as-new-last-run.json',
  ];
  const outcomes = await replayAll(workflowBundle, decidedByConditions);
  expect(outcomes.map((o) => [o.workflowId, o.error?.name])).toEqual(
    decidedByConditions.map((f) => [f.replace(/\.json$/, ''), 'DeterminismViolationError']),
  );
  // Journeys no condition decided still replay: the drift is caught where it matters, not by accident.
  const undecided = await replayAll(workflowBundle, [
    'mixed-rejected-email-sms-exit.json',
    'abandoned-cart-no-order.json',
  ]);
  expect(undecided.map((o) => o.error?.name)).toEqual([undefined, undefined]);
});
