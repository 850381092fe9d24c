/**
 * Activity stubs for the journey workflow. Types only from activities/: no I/O code enters
 * the workflow sandbox.
 */
import { proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { JourneyActivities } from '../activities';

/**
 * Provider outages (429, 5xx) are retried with backoff for up to a day; permanent rejections
 * are thrown as non-retryable and never retried. Provider calls time out after 15 s and
 * heartbeat while they run: a worker that dies mid-send is noticed after 20 s, not 1 minute.
 */
export const sendOptions: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  heartbeatTimeout: '20 seconds',
  scheduleToCloseTimeout: '24 hours',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '30 minutes' },
};

export const sending =
  proxyActivities<Pick<JourneyActivities, 'sendEmail' | 'sendSms' | 'sendPush' | 'callWebhook'>>(sendOptions);

export const bookkeepingOptions: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
};

export const bookkeeping =
  proxyActivities<
    Pick<
      JourneyActivities,
      'recordJourneyEnd' | 'evaluateSplit' | 'updateProfile' | 'resolveWakeTime' | 'findStoredEvent'
    >
  >(bookkeepingOptions);

/** `executeWithOptions` needs the full options: these plus a summary for the Temporal UI. */
export const withSummary = (options: ActivityOptions, summary: string): ActivityOptions => ({ ...options, summary });
