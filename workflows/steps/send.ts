import { ActivityFailure, ApplicationFailure, condition } from '@temporalio/workflow';
import type { SendOutcome, SendRequest } from '../../activities/send-message';
import type { StepOf } from '../../flows/schema';
import { sendOptions, sending, withSummary } from '../activities';
import { applyStop, exited, guardRequest, takeResume, type StepContext, type StepResult } from './context';

type SendStep = StepOf<'email'> | StepOf<'sms'> | StepOf<'push'> | StepOf<'webhook'>;

/** Journeys recorded before the guard's answer was nested under `exit` carry this shape. */
interface LegacyExited {
  status: 'exited';
  filter: { event: string };
  event: { id: number; name: string; timestamp: string };
}

/**
 * Sends one message. The activity re-checks the journey's exits against stored data right
 * before sending and applies quiet hours: "deferred" waits for the end of the quiet window and
 * tries again, "held" (flow paused) waits for the flow to be live again.
 */
export async function runSend(step: SendStep, ctx: StepContext): Promise<StepResult> {
  takeResume(ctx, step.id); // a resumed send simply runs again: its guard and rules decide afresh
  const options = withSummary(sendOptions, `${step.id}: ${step.type}${step.label ? ` (${step.label})` : ''}`);
  for (;;) {
    let result: SendOutcome | { status: 'sent'; messageId: string; httpStatus: number } | LegacyExited;
    try {
      result = await callProvider(step, ctx, options);
    } catch (err) {
      // A rejected or undeliverable message fails its step, not the journey: it is recorded
      // on the message row and the journey goes on to its next step.
      if (err instanceof ActivityFailure) {
        const cause = err.cause instanceof ApplicationFailure ? `${err.cause.type}: ${err.cause.message}` : err.message;
        return { outcome: `failed (${cause})` };
      }
      throw err;
    }
    if (isLegacyExited(result)) {
      ctx.state.exit ??= {
        reason: 'flow_filter',
        filter: result.filter,
        event: result.event,
        detectedBy: 'send_guard',
      };
      return { outcome: 'not sent: flow filter matched' };
    }
    if (result.status === 'exited') return { outcome: applyStop(ctx, result) };
    if (result.status === 'held') {
      // Learned from the database: wait for the "live" signal, re-checking every 6 hours in
      // case it was missed (each re-check costs a timer and an activity).
      ctx.state.flowStatus = 'paused';
      await condition(() => exited(ctx)() || ctx.state.flowStatus === 'live' || ctx.rotate(), '6 hours', {
        summary: `${step.id}: flow paused, holding`,
      });
      if (ctx.state.exit) return { outcome: 'not sent: journey ended while held' };
      // The next run sends this step again from the start (the message row is per journey and step).
      if (ctx.rotate()) return { outcome: 'continued as new', rotate: { stepId: step.id } };
      continue;
    }
    if (result.status === 'deferred') {
      ctx.state.waitingUntil = result.until;
      await condition(() => exited(ctx)() || ctx.rotate(), Math.max(1_000, Date.parse(result.until) - Date.now()), {
        summary: `${step.id}: ${result.reason}, waiting until ${result.until}`,
      });
      ctx.state.waitingUntil = undefined;
      if (ctx.state.exit) return { outcome: 'not sent: journey ended during quiet hours' };
      if (ctx.rotate()) return { outcome: 'continued as new', rotate: { stepId: step.id } };
      continue;
    }
    if (result.status === 'skipped') return { outcome: `skipped (${result.reason})`, messageId: result.messageId };
    return {
      outcome: 'provider' in result ? `sent via ${result.provider}` : `delivered (HTTP ${result.httpStatus})`,
      messageId: result.messageId,
    };
  }
}

function isLegacyExited(result: { status: string }): result is LegacyExited {
  return result.status === 'exited' && 'filter' in result;
}

function callProvider(
  step: SendStep,
  ctx: StepContext,
  options: Parameters<typeof sending.sendEmail.executeWithOptions>[0],
) {
  const guard = guardRequest(ctx);
  if (step.type === 'webhook') return sending.callWebhook.executeWithOptions(options, [{ ...guard, step }]);
  const quietHours = ctx.flow.quietHours[step.type] ?? null;
  const rules = {
    quietHours,
    smartSendingHours: ctx.flow.smartSending.enabled ? ctx.flow.smartSending.hours : null,
    tracking: ctx.flow.tracking,
  };
  const request = <S>(s: S): SendRequest<S> => ({ ...guard, step: s, rules });
  if (step.type === 'email') return sending.sendEmail.executeWithOptions(options, [request(step)]);
  if (step.type === 'sms') return sending.sendSms.executeWithOptions(options, [request(step)]);
  return sending.sendPush.executeWithOptions(options, [request(step)]);
}
