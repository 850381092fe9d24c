import { ActivityFailure, ApplicationFailure } from '@temporalio/workflow';
import type { SendOutcome } from '../../activities/send-message';
import type { StepOf } from '../../flows/schema';
import { sendOptions, sending } from '../activities';
import type { StepContext } from './context';

type SendStep = StepOf<'email'> | StepOf<'sms'>;

/**
 * Sends one message. The activity re-checks the flow filters against stored events right
 * before sending, so an exit event that reached us by any path (even one whose signal was
 * missed) stops the message: its answer `exited` ends the journey here.
 */
export async function runSend(step: SendStep, ctx: StepContext): Promise<{ outcome: string; messageId?: string }> {
  const request = { journey: ctx.journey, step, trigger: ctx.input.trigger, exitWhen: ctx.input.flow.exitWhen };
  const options = { ...sendOptions, summary: `${step.id}: ${step.type}${step.label ? ` (${step.label})` : ''}` };
  let result: SendOutcome;
  try {
    result =
      step.type === 'email'
        ? await sending.sendEmail.executeWithOptions(options, [{ ...request, step }])
        : await sending.sendSms.executeWithOptions(options, [{ ...request, step }]);
  } catch (err) {
    // A rejected or undeliverable message fails its step, not the journey: it is recorded
    // on the message row and the journey goes on to its next step.
    if (err instanceof ActivityFailure) {
      const cause = err.cause instanceof ApplicationFailure ? `${err.cause.type}: ${err.cause.message}` : err.message;
      return { outcome: `failed (${cause})` };
    }
    throw err;
  }
  if (result.status === 'exited') {
    ctx.state.exit ??= { reason: 'flow_filter', filter: result.filter, event: result.event, detectedBy: 'send_guard' };
    return { outcome: 'not sent: flow filter matched' };
  }
  if (result.status === 'skipped') return { outcome: `skipped (${result.reason})`, messageId: result.messageId };
  return { outcome: `sent via ${result.provider}`, messageId: result.messageId };
}
