/**
 * Recorded workflow histories (test/histories/<kind>/), replayed by the replay tests against the
 * current workflow code. `RECORD_HISTORIES=1` makes the tests that call `recordHistory` write
 * them again from the current code. <kind>/archive/ holds recordings made by earlier releases,
 * never re-recorded: workflows those releases started may still be running, and the current
 * code must resume them (a behaviour change goes behind patched()).
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { historyFromJSON, historyToJSON } from '@temporalio/common/lib/proto-utils';
import { Worker, type WorkflowBundleOption } from '@temporalio/worker';

export const HISTORIES_DIR = path.join(__dirname, '..', 'histories');

export async function recordHistory(kind: string, name: string, handle: WorkflowHandle): Promise<void> {
  if (process.env.RECORD_HISTORIES !== '1') return;
  const dir = path.join(HISTORIES_DIR, kind);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, `${name}.json`), `${historyToJSON(await handle.fetchHistory())}\n`);
}

/** The recordings of a kind, current and archived: `name.json` and `archive/name.json`. */
export function recordedFiles(kind: string): string[] {
  const dir = path.join(HISTORIES_DIR, kind);
  const archive = path.join(dir, 'archive');
  return [
    ...readdirSync(dir).filter((f) => f.endsWith('.json')),
    ...(existsSync(archive) ? readdirSync(archive).filter((f) => f.endsWith('.json')) : []).map((f) => `archive/${f}`),
  ].sort();
}

export const readHistory = (kind: string, file: string) =>
  historyFromJSON(JSON.parse(readFileSync(path.join(HISTORIES_DIR, kind, file), 'utf8')));

/** Replays every recording of a kind: [file, error message or undefined] each. */
export async function replayRecorded(
  kind: string,
  workflowBundle: WorkflowBundleOption,
): Promise<[string, string | undefined][]> {
  const histories = recordedFiles(kind).map((file) => ({ workflowId: file, history: readHistory(kind, file) }));
  const outcomes: [string, string | undefined][] = [];
  for await (const result of Worker.runReplayHistories({ workflowBundle }, histories))
    outcomes.push([result.workflowId, result.error?.message]);
  return outcomes;
}
