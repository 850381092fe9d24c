/**
 * Sticky random splits: the branch is a hash of flow, step and contact, so a contact lands in
 * the same branch every time (and on replay). Pure.
 */
import type { StepOf } from './schema';

/** FNV-1a, 32 bits: stable across platforms and versions. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** A number in [0, 100) for this contact at this step. */
export function bucket(flowId: string, stepId: string, contactId: string): number {
  return (fnv1a(`${flowId}:${stepId}:${contactId}`) / 0x1_0000_0000) * 100;
}

export function pickBranch(step: StepOf<'random_split'>, flowId: string, contactId: string): StepOf<'random_split'>['branches'][number] {
  const point = bucket(flowId, step.id, contactId);
  let upTo = 0;
  for (const branch of step.branches) {
    upTo += branch.percent;
    if (point < upTo) return branch;
  }
  return step.branches[step.branches.length - 1];
}
