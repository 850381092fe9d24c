/**
 * One workflow per campaign run (not per recipient): it waits for the start, freezes the
 * audience, then sends page after page through activities, pacing pages to the throttle with
 * durable timers, sleeping until the next recipients are due (local-time sends: one timer per
 * zone's moment; quiet hours: the end of the window), and obeying pause, resume and cancel.
 * Recurring campaigns: a scheduler workflow starts one run per occurrence.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  ParentClosePolicy,
  proxyActivities,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { CampaignActivities } from '../activities/campaign';
import { pageSize } from '../campaigns/pages';
import {
  campaignProgressQuery,
  campaignWorkflowId,
  cancelCampaignSignal,
  pauseCampaignSignal,
  resumeCampaignSignal,
  type CampaignProgress,
  type CampaignRunInput,
  type CampaignScheduleInput,
} from './campaign-messages';

const pages = proxyActivities<Pick<CampaignActivities, 'sendCampaignPage'>>({
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '10 minutes' },
});
const bookkeeping = proxyActivities<Omit<CampaignActivities, 'sendCampaignPage'>>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});

/** Pages per workflow run before continuing as new (the history stays small on huge or slow campaigns). */
const PAGES_PER_RUN = 500;
/** Nothing due yet although recipients remain (a page raced another attempt): look again after this. */
const IDLE_MS = 1_000;

export async function campaignRunWorkflow(input: CampaignRunInput): Promise<CampaignProgress> {
  const { campaign, runId } = input;
  const progress: CampaignProgress = input.carried?.progress ?? { status: 'scheduled', runId, recipients: 0, sent: 0, skipped: 0, unknown: 0, failed: 0, deferred: 0, pages: 0 };
  let paused = input.carried?.paused ?? false;
  let cancelled = false;
  setHandler(pauseCampaignSignal, () => void (paused = true));
  setHandler(resumeCampaignSignal, () => void (paused = false));
  setHandler(cancelCampaignSignal, () => void (cancelled = true));
  setHandler(campaignProgressQuery, () => ({ ...progress }));
  const record = async (status: Exclude<CampaignProgress['status'], 'draft'>) => {
    progress.status = status;
    await bookkeeping.recordCampaignStatus({ campaignId: campaign.id, runId, status });
  };

  if (!input.carried) {
    const wait = (input.startAt ?? 0) - Date.now();
    if (wait > 0) await condition(() => cancelled, wait, { summary: `campaign ${campaign.id}: scheduled` });
    if (cancelled) {
      await record('cancelled');
      return progress;
    }
    const frozen = await bookkeeping.freezeCampaignAudience({ runId, campaign, now: Date.now(), local: input.local });
    progress.recipients = frozen.recipients;
    progress.status = paused ? 'paused' : 'sending';
  }

  // Throttle: the pace is counted from when sending (re)started: page k waits until
  // since + sent / rate, so the run keeps the rate over its whole length.
  const throttle = input.carried?.throttle ?? { since: Date.now(), sent: 0 };
  const limit = pageSize(campaign.throttlePerMinute);
  for (let pagesThisRun = 0; ; ) {
    if (cancelled) break;
    if (paused) {
      await record('paused');
      await condition(() => !paused || cancelled);
      if (cancelled) break;
      await record('sending');
      throttle.since = Date.now();
      throttle.sent = 0;
      continue;
    }
    if (campaign.throttlePerMinute !== null) {
      const earliest = throttle.since + (throttle.sent / campaign.throttlePerMinute) * 60_000;
      if (earliest > Date.now() && (await condition(() => paused || cancelled, Math.ceil(earliest - Date.now())))) continue;
    }
    const out = await pages.sendCampaignPage({ runId, campaign, now: Date.now(), limit });
    pagesThisRun += 1;
    progress.pages += 1;
    progress.sent += out.sent;
    progress.skipped += out.skipped;
    progress.unknown += out.unknown;
    progress.failed += out.failed;
    progress.deferred += out.deferred;
    throttle.sent += out.sent;
    if (out.settled === 0 && out.deferred === 0) {
      const left = await bookkeeping.campaignRemaining({ runId });
      if (left.pending === 0) break;
      // Nothing due now: sleep until the next recipients are (a zone's local hour, a quiet window's end).
      const wait = left.nextDueAt === null ? IDLE_MS : Math.max(IDLE_MS, left.nextDueAt - Date.now());
      await condition(() => paused || cancelled, wait);
      // A long wait is not a throttle debt.
      throttle.since = Date.now();
      throttle.sent = 0;
    }
    if (pagesThisRun >= PAGES_PER_RUN || workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof campaignRunWorkflow>({ ...input, carried: { progress, paused, throttle } });
    }
  }
  await record(cancelled ? 'cancelled' : 'completed');
  return progress;
}

/**
 * A recurring campaign: sleeps until the next occurrence (durable timer), starts that
 * occurrence's run (which freezes its own audience), and continues as new. Pause skips
 * occurrences until resumed; cancel ends the schedule (a run already started goes on).
 */
export async function campaignScheduleWorkflow(input: CampaignScheduleInput): Promise<void> {
  const { campaign } = input;
  if (campaign.schedule.type !== 'recurring') throw new Error(`campaign ${campaign.id} is not recurring`);
  let paused = input.paused ?? false;
  let cancelled = false;
  setHandler(pauseCampaignSignal, () => void (paused = true));
  setHandler(resumeCampaignSignal, () => void (paused = false));
  setHandler(cancelCampaignSignal, () => void (cancelled = true));
  setHandler(campaignProgressQuery, () => ({ status: cancelled ? 'cancelled' : paused ? 'paused' : 'scheduled', runId: '', recipients: 0, sent: 0, skipped: 0, unknown: 0, failed: 0, deferred: 0, pages: input.occurrences }));

  const next = await bookkeeping.nextCampaignOccurrence({ schedule: campaign.schedule, after: Date.now() });
  await condition(() => cancelled, Math.max(1, next - Date.now()));
  if (cancelled) {
    await bookkeeping.recordCampaignStatus({ campaignId: campaign.id, status: 'cancelled' });
    return;
  }
  if (!paused) {
    const runId = `${campaign.id}@${new Date(next).toISOString()}`;
    await startChild(campaignRunWorkflow, {
      workflowId: campaignWorkflowId(runId),
      args: [{ v: 1, campaign, runId }],
      // The run outlives this scheduler run (which continues as new at once).
      parentClosePolicy: ParentClosePolicy.ABANDON,
    });
  }
  await condition(allHandlersFinished);
  await continueAsNew<typeof campaignScheduleWorkflow>({ ...input, occurrences: input.occurrences + (paused ? 0 : 1), paused });
}
