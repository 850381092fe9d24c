import type { GuardRequest, GuardStop, JourneyRef } from '../../activities/guard';
import type { EventFacts } from '../../flows/conditions';
import type { ExitRule } from '../../flows/exits';
import type { FlowDefinition } from '../../flows/schema';
import type { EventMemory } from '../event-memory';
import type { JourneyEvent, JourneyInput, JourneyState, ResumePoint } from '../../flows/journey-messages';

/** What every step executor gets: the journey's input, identity and live state. */
export interface StepContext {
  input: JourneyInput;
  /** The snapshot with defaults filled in (older snapshots lack newer fields). */
  flow: FlowDefinition;
  journey: JourneyRef;
  state: JourneyState;
  exits: ExitRule[];
  /**
   * Journeys started before patch "journey-event-memory": every event signalled, in arrival
   * order (unbounded; kept so their histories replay unchanged).
   */
  seen: JourneyEvent[];
  /** Newer journeys: bounded per-condition memory of the signalled events. */
  memory?: EventMemory;
  /** True when this run should hand over to a new one at its next wait (continue-as-new). */
  rotate: () => boolean;
  /** A resumed run: where the step it starts with stood. Consumed by that step. */
  resume?: ResumePoint;
}

/** What a step did, and where the journey goes next (undefined: the default next step; null: the end). */
export interface StepResult {
  outcome: string;
  next?: string | null;
  /** The step stopped to let the journey continue as new; the next run resumes it from here. */
  rotate?: ResumePoint;
  messageId?: string;
  branch?: string;
}

export const exited = (ctx: StepContext) => (): boolean => ctx.state.exit !== undefined;

export function sentMessages(ctx: StepContext): Record<string, string> {
  return Object.fromEntries(ctx.state.steps.filter((s) => s.messageId).map((s) => [s.stepId, s.messageId!]));
}

/** The journey's view handed to guarded activities; `now` is workflow time. */
export function guardRequest(ctx: StepContext): GuardRequest {
  return {
    journey: ctx.journey,
    trigger: ctx.input.trigger,
    exits: ctx.exits,
    sentMessages: sentMessages(ctx),
    now: Date.now(),
  };
}

export function journeyEvents(ctx: StepContext): EventFacts[] {
  const events = ctx.memory ? ctx.memory.events() : ctx.seen;
  return events.map(({ name, properties, timestamp }) => ({ name, properties, timestamp }));
}

/** The resume point of this step when the run starts with it (and forgets it: used once). */
export function takeResume(ctx: StepContext, stepId: string): ResumePoint | undefined {
  const resume = ctx.resume?.stepId === stepId ? ctx.resume : undefined;
  ctx.resume = undefined;
  return resume;
}

/** An activity found the journey must stop: record why. Returns the step outcome text. */
export function applyStop(ctx: StepContext, stop: GuardStop): string {
  if (stop.status === 'held') return 'held: flow paused';
  if (stop.exit.reason === 'archived') {
    ctx.state.exit ??= { reason: 'archived' };
    return 'not run: flow archived';
  }
  ctx.state.exit ??= {
    reason: stop.exit.reason,
    filter: stop.exit.filter,
    ...(stop.exit.event ? { event: stop.exit.event } : {}),
    detectedBy: 'send_guard',
  };
  return stop.exit.reason === 'goal'
    ? 'not run: goal reached'
    : stop.exit.reason === 'unsubscribed'
      ? 'not run: unsubscribed'
      : 'not run: flow filter matched';
}
