/**
 * Every workflow type the worker registers (workflows/index.ts) has at least one recorded
 * history under test/histories/, which a replay test replays: a new workflow type, or a type
 * whose recordings were dropped, cannot reach production without a determinism check in CI.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { HISTORIES_DIR } from './helpers/histories';

function historyFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return historyFiles(full);
    return entry.name.endsWith('.json') ? [full] : [];
  });
}

const typeOf = (file: string): string => {
  const history = JSON.parse(readFileSync(file, 'utf8')) as {
    events: { workflowExecutionStartedEventAttributes?: { workflowType?: { name?: string } } }[];
  };
  return history.events[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name ?? '';
};

test('every registered workflow type has a recorded history', () => {
  const index = readFileSync(path.join(__dirname, '..', 'workflows', 'index.ts'), 'utf8');
  const registered = [...index.matchAll(/export \{([^}]+)\}/g)]
    .flatMap((m) => m[1].split(','))
    .map((name) => name.trim())
    .filter(Boolean)
    .sort();
  expect(registered).toEqual(
    expect.arrayContaining([
      'journeyWorkflow',
      'segmentClockWorkflow',
      'calendarClockWorkflow',
      'segmentBuildWorkflow',
    ]),
  );
  const recorded = new Set(historyFiles(HISTORIES_DIR).map(typeOf));
  expect(registered.filter((type) => !recorded.has(type))).toEqual([]);
});
