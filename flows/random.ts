/**
 * Sticky random splits: the branch is a hash of flow, step and contact, so a contact lands in
 * the same branch every time (and on replay). Pure.
 */
import type { StepOf } from './schema';

/**
 * FNV-1a, 32 bits, then murmur3's finalizer: ids that differ only in their last character
 * ("ab-1", "ab-2") must still spread over the whole range. Stable across platforms.
 */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

/** A number in [0, 100) for this contact at this step. */
export function bucket(flowId: string, stepId: string, contactId: string): number {
  return (fnv1a(`${flowId}:${stepId}:${contactId}`) / 0x1_0000_0000) * 100;
}

export function pickBranch(
  step: StepOf<'random_split'>,
  flowId: string,
  contactId: string,
): StepOf<'random_split'>['branches'][number] {
  const point = bucket(flowId, step.id, contactId);
  let upTo = 0;
  for (const branch of step.branches) {
    upTo += branch.percent;
    if (point < upTo) return branch;
  }
  return step.branches[step.branches.length - 1];
}
