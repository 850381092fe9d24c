/**
 * Walking the step graph. Pure: used by the workflow to find the next step and by the
 * API to reject flows with dangling references or loops.
 */
import type { Step } from './schema';

/** The id of the step that runs after `index` by default, or undefined at the end of the flow. */
export function nextStepId(steps: readonly Step[], index: number): string | undefined {
  const current = steps[index];
  if (current.type === 'exit') return undefined;
  return current.next ?? steps[index + 1]?.id;
}

/** Every step a step can lead to, with the field that names it. */
export function successors(
  steps: readonly Step[],
  index: number,
): { field: (string | number)[]; id: string | undefined }[] {
  const step = steps[index];
  const fallback = nextStepId(steps, index);
  const pick = (value: string | undefined) => value ?? fallback;
  switch (step.type) {
    case 'split':
      return [
        { field: ['then'], id: pick(step.then) },
        { field: ['else'], id: pick(step.else) },
      ];
    case 'wait_for_event':
      return [
        { field: ['onEvent'], id: pick(step.onEvent) },
        { field: ['onTimeout'], id: pick(step.onTimeout) },
      ];
    case 'random_split':
      return step.branches.map((b, i) => ({ field: ['branches', i, 'next'], id: pick(b.next) }));
    default:
      return [{ field: ['next'], id: fallback }];
  }
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
    const named: [string | number, string | undefined][] = [['next', s.next]];
    if (s.type === 'split') named.push(['then', s.then], ['else', s.else]);
    if (s.type === 'wait_for_event') named.push(['onEvent', s.onEvent], ['onTimeout', s.onTimeout]);
    for (const [field, id] of named) {
      if (id !== undefined && !indexById.has(id))
        issues.push({ path: ['steps', i, field], message: `no step has id "${id}"` });
    }
    if (s.type === 'random_split') {
      s.branches.forEach((b, bi) => {
        if (b.next !== undefined && !indexById.has(b.next))
          issues.push({ path: ['steps', i, 'branches', bi, 'next'], message: `no step has id "${b.next}"` });
      });
    }
  });
  if (issues.length > 0) return issues;

  // Every path from the first step must reach the end: depth-first, a revisit on the current
  // path is a loop.
  const state = new Map<number, 'visiting' | 'done'>();
  let loop: GraphIssue | undefined;
  const visit = (i: number): void => {
    state.set(i, 'visiting');
    for (const { field, id } of successors(steps, i)) {
      if (id === undefined || loop) continue;
      const target = indexById.get(id)!;
      if (state.get(target) === 'visiting')
        loop = { path: ['steps', i, ...field], message: `step "${steps[i].id}" leads back into a loop` };
      else if (state.get(target) !== 'done') visit(target);
    }
    state.set(i, 'done');
  };
  visit(0);
  return loop ? [loop] : [];
}
