/**
 * The campaign workflows' contract: inputs, signals and queries, defined once and imported by
 * the API and the workflows alike.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { LocalSend } from '../campaigns/occurrences';
import type { CampaignDefinition, CampaignStatus } from '../campaigns/schema';

/** A one-off campaign's run is its id; a recurring campaign's runs are "<id>@<occurrence ISO>". */
export const campaignWorkflowId = (runId: string) => `campaign:${runId}`;
export const campaignScheduleWorkflowId = (campaignId: string) => `campaign-schedule:${campaignId}`;

export interface CampaignProgress {
  status: CampaignStatus;
  runId: string;
  /** The frozen audience; 0 until sending starts. */
  recipients: number;
  sent: number;
  skipped: number;
  unknown: number;
  failed: number;
  /** Deferrals by quiet hours (a recipient deferred twice counts twice). */
  deferred: number;
  pages: number;
  /** A/B tests: the variant sent to the rest, once chosen. */
  winner?: string;
  /** While waiting for a start, an occurrence or due recipients: until when (ISO). */
  nextAt?: string;
}

export interface CampaignRunInput {
  /** Input format version: bump when the shape changes, and keep reading the old one. */
  v: 1;
  campaign: CampaignDefinition;
  runId: string;
  /** When to freeze the audience and start (ms); absent or past: at once. */
  startAt?: number;
  /** Local-time sends: each recipient at `time` on `date` in their zone (moments: per zone, see LocalSend). */
  local?: LocalSend;
  /** Set by continue-as-new: the audience is frozen, the progress so far. */
  carried?: {
    progress: CampaignProgress;
    paused: boolean;
    throttle: { since: number; sent: number } /** Where the sweep of the audience stands. */;
    afterOrd?: number /** A/B tests: sending to the test's members only. */;
    testPhase?: boolean;
  };
}

export interface CampaignScheduleInput {
  v: 1;
  campaign: CampaignDefinition;
  /** Yearly moments resolved per zone: the moment date of the last occurrence run (the next is later). */
  since?: string;
  /** Occurrences started so far (all runs of the scheduler). */
  occurrences: number;
  paused?: boolean;
  /** An occurrence being sent when the scheduler continued as new. */
  current?: CampaignRunInput;
}

export const pauseCampaignSignal = defineSignal('pauseCampaign');
export const resumeCampaignSignal = defineSignal('resumeCampaign');
export const cancelCampaignSignal = defineSignal('cancelCampaign');

export const campaignProgressQuery = defineQuery<CampaignProgress>('campaignProgress');
