/**
 * One workflow per campaign run (not per recipient): it waits for the start, freezes the
 * audience, then sends page after page through activities, pacing pages to the throttle with
 * durable timers, sleeping until the next recipients are due (local-time sends: one timer per
 * zone's moment; quiet hours: the end of the window), and obeying pause, resume and cancel.
 * Recurring and yearly moment campaigns: a scheduler workflow runs one occurrence after the other, each freezing
 * its own audience (in the same workflow: no child workflows to follow).
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  patched,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { CampaignActivities } from '../activities/campaign';
import { pageSize } from '../campaigns/pages';
import { parseDuration } from '../flows/duration';
import {
  campaignProgressQuery,
  cancelCampaignSignal,
  pauseCampaignSignal,
  resumeCampaignSignal,
  type CampaignProgress,
  type CampaignRunInput,
  type CampaignScheduleInput,
} from './campaign-messages';

const pages = proxyActivities<Pick<CampaignActivities, 'sendCampaignPage'>>({
  // Not handed eagerly to the worker running this workflow: any worker polling the queue takes a
  // page, so several workers share a campaign's provider calls and Postgres work.
  allowEagerDispatch: false,
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '10 minutes' },
});
const bookkeeping = proxyActivities<Omit<CampaignActivities, 'sendCampaignPage'>>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});

const msOf = (duration: string) => parseDuration(duration) ?? 0;

/** Yearly moments resolved per zone, each run after the last (issue 16). */
export const MOMENT_PER_ZONE_PATCH = 'campaign-moment-per-zone';

/** Pages per workflow run before continuing as new (the history stays small on huge or slow campaigns). */
const PAGES_PER_RUN = 500;
/** Recipients remain but none is due (a page raced another attempt): look again after this. */
const IDLE_MS = 1_000;
/** Unthrottled: pages sent at once (each a SendGrid request of up to 1,000). */
const PAGES_IN_FLIGHT = 3;

/** What the signal handlers change and the query reads, shared by a run and the scheduler. */
interface Control {
  paused: boolean;
  cancelled: boolean;
  progress: CampaignProgress;
}

function listen(control: Control, query: () => CampaignProgress = () => ({ ...control.progress })): void {
  setHandler(pauseCampaignSignal, () => void (control.paused = true));
  setHandler(resumeCampaignSignal, () => void (control.paused = false));
  setHandler(cancelCampaignSignal, () => void (control.cancelled = true));
  setHandler(campaignProgressQuery, query);
}

const newProgress = (runId: string): CampaignProgress => ({
  status: 'scheduled',
  runId,
  recipients: 0,
  sent: 0,
  skipped: 0,
  unknown: 0,
  failed: 0,
  deferred: 0,
  pages: 0,
});

/**
 * Sends one run to the end (or its cancellation). Returns the input to continue as new with
 * when the history has grown long enough; the caller continues as new with it.
 */
async function sendRun(
  input: CampaignRunInput,
  control: Control,
): Promise<{ continueWith: CampaignRunInput } | { done: CampaignProgress }> {
  const { campaign, runId } = input;
  const { progress } = control;
  const record = async (status: Exclude<CampaignProgress['status'], 'draft'>) => {
    progress.status = status;
    await bookkeeping.recordCampaignStatus({ campaignId: campaign.id, runId, status });
  };

  if (!input.carried) {
    const wait = (input.startAt ?? 0) - Date.now();
    if (wait > 0) progress.nextAt = new Date(input.startAt!).toISOString();
    if (wait > 0) await condition(() => control.cancelled, wait, { summary: `campaign ${campaign.id}: scheduled` });
    if (control.cancelled) {
      await record('cancelled');
      return { done: progress };
    }
    progress.nextAt = undefined;
    const frozen = await bookkeeping.freezeCampaignAudience({ runId, campaign, now: Date.now(), local: input.local });
    progress.recipients = frozen.recipients;
    progress.status = control.paused ? 'paused' : 'sending';
  }

  // The frozen audience is swept in windows of `ord`: pages side by side when unthrottled (the
  // provider and Postgres work in parallel), one at a time when throttled. After a sweep, what
  // is left is not due yet (local hours, quiet hours): sleep until it is, then sweep again.
  // Throttle: page k waits until since + sent / rate, so the run keeps the rate over its length.
  const throttle = input.carried?.throttle ?? { since: Date.now(), sent: 0 };
  const limit = pageSize(campaign.throttlePerMinute);
  const inFlight = campaign.throttlePerMinute === null ? PAGES_IN_FLIGHT : 1;
  let afterOrd = input.carried?.afterOrd ?? 0;
  // A/B test: first a sweep over the test's members only; then, after the wait, the winner for the rest.
  let testPhase = input.carried?.testPhase ?? (campaign.abTest !== undefined && progress.winner === undefined);
  for (let pagesThisRun = 0; ; ) {
    if (control.cancelled) break;
    if (control.paused) {
      await record('paused');
      await condition(() => !control.paused || control.cancelled);
      if (control.cancelled) break;
      await record('sending');
      throttle.since = Date.now();
      throttle.sent = 0;
      continue;
    }
    if (campaign.throttlePerMinute !== null) {
      const earliest = throttle.since + (throttle.sent / campaign.throttlePerMinute) * 60_000;
      if (
        earliest > Date.now() &&
        (await condition(() => control.paused || control.cancelled, Math.ceil(earliest - Date.now())))
      )
        continue;
    }
    if (afterOrd >= progress.recipients && testPhase) {
      const test = campaign.abTest!;
      progress.nextAt = new Date(Date.now() + msOf(test.after)).toISOString();
      await condition(() => control.cancelled, msOf(test.after), {
        summary: `campaign ${campaign.id}: A/B test, winner by ${test.winnerBy} after ${test.after}`,
      });
      progress.nextAt = undefined;
      if (control.cancelled) break;
      progress.winner = (await bookkeeping.chooseCampaignWinner({ runId, campaign })).winner;
      testPhase = false;
      afterOrd = 0;
      continue;
    }
    if (afterOrd >= progress.recipients) {
      const left = await bookkeeping.campaignRemaining({ runId });
      if (left.pending === 0) break;
      // Nothing due now: sleep until the next recipients are (a zone's local hour, a quiet window's end).
      const wait = left.nextDueAt === null ? IDLE_MS : Math.max(IDLE_MS, left.nextDueAt - Date.now());
      await condition(() => control.paused || control.cancelled, wait);
      afterOrd = 0;
      // A long wait is not a throttle debt.
      throttle.since = Date.now();
      throttle.sent = 0;
      continue;
    }
    const now = Date.now();
    const windows = Array.from({ length: inFlight }, (_, i) => afterOrd + i * limit).filter(
      (start) => start < progress.recipients,
    );
    const outs = await Promise.all(
      windows.map((start) =>
        pages.sendCampaignPage({ runId, campaign, now, afterOrd: start, limit, testOnly: testPhase }),
      ),
    );
    afterOrd += windows.length * limit;
    for (const out of outs) {
      pagesThisRun += 1;
      progress.pages += 1;
      progress.sent += out.sent;
      progress.skipped += out.skipped;
      progress.unknown += out.unknown;
      progress.failed += out.failed;
      progress.deferred += out.deferred;
      throttle.sent += out.sent;
    }
    if (pagesThisRun >= PAGES_PER_RUN || workflowInfo().continueAsNewSuggested) {
      return {
        continueWith: { ...input, carried: { progress, paused: control.paused, throttle, afterOrd, testPhase } },
      };
    }
  }
  await record(control.cancelled ? 'cancelled' : 'completed');
  return { done: progress };
}

export async function campaignRunWorkflow(input: CampaignRunInput): Promise<CampaignProgress> {
  const control: Control = {
    paused: input.carried?.paused ?? false,
    cancelled: false,
    progress: input.carried?.progress ?? newProgress(input.runId),
  };
  listen(control);
  const outcome = await sendRun(input, control);
  if ('done' in outcome) return outcome.done;
  await condition(allHandlersFinished);
  return continueAsNew<typeof campaignRunWorkflow>(outcome.continueWith);
}

/**
 * A recurring campaign (or a yearly one relative to a calendar moment, each occurrence at the
 * hour local to each contact): sleeps until the next occurrence (durable timer), sends that
 * occurrence's run (which freezes its own audience), and continues as new. Pause skips
 * occurrences until resumed (and pauses a run in progress); cancel ends the schedule and the run.
 */
export async function campaignScheduleWorkflow(input: CampaignScheduleInput): Promise<void> {
  const { campaign } = input;
  const { schedule } = campaign;
  if (schedule.type !== 'recurring' && !(schedule.type === 'moment' && schedule.yearly))
    throw new Error(`campaign ${campaign.id} is not recurring`);
  const control: Control = {
    paused: input.paused ?? false,
    cancelled: false,
    progress: input.current?.carried?.progress ?? newProgress(''),
  };
  let nextAt: string | undefined;
  listen(control, () => ({
    ...control.progress,
    ...(nextAt ? { status: control.cancelled ? 'cancelled' : control.paused ? 'paused' : 'scheduled', nextAt } : {}),
  }));

  let current = input.current;
  let since = input.since;
  if (!current) {
    // A yearly moment: its next date (plus the offset), at the hour local to each contact.
    let local: CampaignRunInput['local'];
    let next: number;
    if (schedule.type === 'recurring') next = await bookkeeping.nextCampaignOccurrence({ schedule, after: Date.now() });
    else {
      // Resolved per zone (issue 16): the occurrence still ahead in some zone, after the one last
      // run, instead of the next one not begun at UTC+14 (which skipped a year when scheduled on the day).
      const perZone = patched(MOMENT_PER_ZONE_PATCH);
      const occurrence = await bookkeeping.nextCampaignMoment(
        perZone ? { schedule, after: Date.now(), perZone, since } : { schedule, after: Date.now() },
      );
      if (!occurrence) {
        await bookkeeping.recordCampaignStatus({ campaignId: campaign.id, status: 'completed' });
        return;
      }
      next = occurrence.startAt;
      local = occurrence.local;
      if (perZone) since = occurrence.moment;
    }
    nextAt = new Date(next).toISOString();
    await condition(() => control.cancelled, Math.max(1, next - Date.now()), {
      summary: `campaign ${campaign.id}: next occurrence`,
    });
    if (control.cancelled) {
      await bookkeeping.recordCampaignStatus({ campaignId: campaign.id, status: 'cancelled' });
      return;
    }
    nextAt = undefined;
    const runId = `${campaign.id}@${new Date(next).toISOString()}`;
    control.progress = newProgress(runId);
    if (!control.paused) current = { v: 1, campaign, runId, ...(local ? { local } : {}) };
  }
  let occurrences = input.occurrences;
  if (current) {
    const outcome = await sendRun(current, control);
    await condition(allHandlersFinished);
    if ('continueWith' in outcome)
      return continueAsNew<typeof campaignScheduleWorkflow>({
        ...input,
        ...(since === undefined ? {} : { since }),
        paused: control.paused,
        current: outcome.continueWith,
      });
    occurrences += 1;
    if (control.cancelled) return;
    // The run recorded "completed": the campaign itself is waiting for its next occurrence.
    await bookkeeping.recordCampaignStatus({ campaignId: campaign.id, status: 'scheduled' });
  }
  await condition(allHandlersFinished);
  await continueAsNew<typeof campaignScheduleWorkflow>({
    v: 1,
    campaign,
    occurrences,
    paused: control.paused,
    ...(since === undefined ? {} : { since }),
  });
}
