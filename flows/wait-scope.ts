/**
 * Whose message a wait for an engagement event listens to. "Wait 2 days for Email Opened" after
 * a newsletter means that newsletter: another flow's email opened meanwhile is not an answer.
 * By default the wait takes the last message the journey sent before it; a step id names one;
 * "any" takes any message's event, as every wait did before this rule.
 */
import { MESSAGE_EVENTS } from './event-names';
import type { PropertyCondition } from './schema';

export type WaitScope =
  /** Any event of that name (not about a message, or explicitly "any"). */
  | { kind: 'any' }
  /** Only the events about this message. */
  | { kind: 'message'; messageId: string; stepId: string }
  /** The journey sent no such message (yet): nothing can answer the wait. */
  | { kind: 'none'; stepId?: string };

/**
 * `sent`: the journey's sent messages in the order they were sent, as [step id, message id].
 */
export function waitScope(
  wait: { event: string; message?: string },
  sent: readonly (readonly [stepId: string, messageId: string])[],
): WaitScope {
  if (!MESSAGE_EVENTS.includes(wait.event) || wait.message === 'any') return { kind: 'any' };
  const last = wait.message === undefined || wait.message === 'last';
  const pick = last ? sent.at(-1) : [...sent].reverse().find(([stepId]) => stepId === wait.message);
  if (!pick) return last ? { kind: 'none' } : { kind: 'none', stepId: wait.message };
  return { kind: 'message', stepId: pick[0], messageId: pick[1] };
}

/** The wait's own conditions, narrowed to the scope's message. */
export function scopedWhere(where: PropertyCondition[] | undefined, scope: WaitScope): PropertyCondition[] | undefined {
  if (scope.kind !== 'message') return where;
  return [...(where ?? []), { property: 'message_id', op: 'equals', value: scope.messageId }];
}
