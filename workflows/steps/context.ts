import type { GuardRequest, GuardStop, JourneyRef } from '../../activities/guard';
import type { EventFacts } from '../../flows/conditions';
import type { ExitRule } from '../../flows/exits';
import type { FlowDefinition } from '../../flows/schema';
import type { JourneyEvent, JourneyInput, JourneyState } from '../messages';

/** What every step executor gets: the journey's input, identity and live state. */
export interface StepContext {
  input: JourneyInput;
  /** The snapshot with defaults filled in (older snapshots lack newer fields). */
  flow: FlowDefinition;
  journey: JourneyRef;
  state: JourneyState;
  exits: ExitRule[];
  /** Events signalled to the journey, in arrival order (bounded). */
  seen: JourneyEvent[];
}

/** What a step did, and where the journey goes next (undefined: the default next step; null: the end). */
export interface StepResult {
  outcome: string;
  next?: string | null;
  messageId?: string;
  branch?: string;
}

export const exited = (ctx: StepContext) => (): boolean => ctx.state.exit !== undefined;

export function sentMessages(ctx: StepContext): Record<string, string> {
  return Object.fromEntries(ctx.state.steps.filter((s) => s.messageId).map((s) => [s.stepId, s.messageId!]));
}

/** The journey's view handed to guarded activities; `now` is workflow time. */
export function guardRequest(ctx: StepContext): GuardRequest {
  return { journey: ctx.journey, trigger: ctx.input.trigger, exits: ctx.exits, sentMessages: sentMessages(ctx), now: Date.now() };
}

export function journeyEvents(ctx: StepContext): EventFacts[] {
  return ctx.seen.map(({ name, properties, timestamp }) => ({ name, properties, timestamp }));
}

/** An activity found the journey must stop: record why. Returns the step outcome text. */
export function applyStop(ctx: StepContext, stop: GuardStop): string {
  if (stop.status === 'held') return 'held: flow paused';
  if (stop.exit.reason === 'archived') {
    ctx.state.exit ??= { reason: 'archived' };
    return 'not run: flow archived';
  }
  ctx.state.exit ??= { reason: stop.exit.reason, filter: stop.exit.filter, ...(stop.exit.event ? { event: stop.exit.event } : {}), detectedBy: 'send_guard' };
  return stop.exit.reason === 'goal' ? 'not run: goal reached' : stop.exit.reason === 'unsubscribed' ? 'not run: unsubscribed' : 'not run: flow filter matched';
}
