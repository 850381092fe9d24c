/**
 * Walking the step graph. Pure: used by the workflow to find the next step and by the
 * API to reject flows with dangling references or loops.
 */
import type { Step } from './schema';

/** The id of the step that runs after `index`, or undefined at the end of the flow. */
export function nextStepId(steps: readonly Step[], index: number): string | undefined {
  const current = steps[index];
  if (current.type === 'exit') return undefined;
  return current.next ?? steps[index + 1]?.id;
}

export interface GraphIssue {
  path: (string | number)[];
  message: string;
}

/** Duplicate ids, references to missing steps and cycles (a journey must always end). */
export function checkStepGraph(steps: readonly Step[]): GraphIssue[] {
  const issues: GraphIssue[] = [];
  const indexById = new Map<string, number>();
  steps.forEach((s, i) => {
    if (indexById.has(s.id)) issues.push({ path: ['steps', i, 'id'], message: `duplicate step id "${s.id}"` });
    else indexById.set(s.id, i);
  });
  steps.forEach((s, i) => {
    if (s.next !== undefined && !indexById.has(s.next)) {
      issues.push({ path: ['steps', i, 'next'], message: `no step has id "${s.next}"` });
    }
  });
  if (issues.length > 0) return issues;

  // Every path from the first step must reach the end: follow `next` and look for a revisit.
  const state = new Map<number, 'visiting' | 'done'>();
  const visit = (i: number): boolean => {
    if (state.get(i) === 'done') return true;
    if (state.get(i) === 'visiting') return false;
    state.set(i, 'visiting');
    const next = nextStepId(steps, i);
    const ok = next === undefined || visit(indexById.get(next)!);
    state.set(i, 'done');
    if (!ok) issues.push({ path: ['steps', i, 'next'], message: `step "${steps[i].id}" leads back into a loop` });
    return ok;
  };
  visit(0);
  return issues.slice(0, 1);
}
