/**
 * When a journey ends early: its flow filters (reason "flow_filter") and, when the flow says
 * so, its conversion goal (reason "goal"). Pure: used by the workflow on every signal and by
 * activities before every side effect.
 */
import { ENGAGEMENT_EVENTS, evaluate, eventNamesIn, type Facts } from './conditions';
import type { Condition, FlowDefinition } from './schema';
import { EVENTS } from './event-names';

export type ExitReason = 'flow_filter' | 'goal' | 'unsubscribed';

export interface ExitRule {
  reason: ExitReason;
  condition: Condition;
}

export function exitRules(
  flow: Pick<FlowDefinition, 'exitWhen' | 'goal'> & Partial<Pick<FlowDefinition, 'onUnsubscribe'>>,
): ExitRule[] {
  const rules: ExitRule[] = flow.exitWhen.map((condition) => ({ reason: 'flow_filter', condition }));
  if (flow.goal?.exitOnGoal)
    rules.push({
      reason: 'goal',
      condition: { event: flow.goal.event, ...(flow.goal.where ? { where: flow.goal.where } : {}) },
    });
  if (flow.onUnsubscribe === 'exit') rules.push({ reason: 'unsubscribed', condition: { event: UNSUBSCRIBED_EVENT } });
  return rules;
}

/** The contact event an unsubscribe (link, provider, complaint) produces. */
export const UNSUBSCRIBED_EVENT = EVENTS.unsubscribed;

/** The first rule these facts make true (unknown is not true: the journey goes on). */
export function firstExit(rules: readonly ExitRule[], facts: Facts): ExitRule | undefined {
  return rules.find((rule) => evaluate(rule.condition, facts) === true);
}

/**
 * Event names a journey of this flow wants signalled: those its exits mention, those its
 * waits wait for, and engagement with its messages when a condition asks about it.
 */
export function eventsListenedTo(
  flow: Pick<FlowDefinition, 'exitWhen' | 'goal' | 'steps'> & Partial<Pick<FlowDefinition, 'onUnsubscribe'>>,
): string[] {
  const names = exitRules(flow).flatMap((rule) => eventNamesIn(rule.condition));
  for (const step of flow.steps) {
    if (step.type === 'wait_for_event') names.push(step.event);
    if (
      step.type === 'split' &&
      eventNamesIn(step.condition).some((n) => (Object.values(ENGAGEMENT_EVENTS) as string[]).includes(n))
    ) {
      names.push(...Object.values(ENGAGEMENT_EVENTS));
    }
  }
  return [...new Set(names)];
}
