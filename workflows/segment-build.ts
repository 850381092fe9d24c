/**
 * A segment's build over the existing base: one activity that runs chunk after chunk, saving
 * its cursor with each chunk and heartbeating; a worker that dies mid-build is noticed within
 * the heartbeat timeout and the build resumes at its cursor on another. A build that keeps
 * failing (five attempts) is recorded on the segment ("failed", with the error). Support finds
 * it in the Temporal UI as `segment-build:<segment>`.
 */
import { ActivityFailure, proxyActivities, sleep } from '@temporalio/workflow';

/** Implemented by worker/segment-build-activities.ts (declared here: the workflow imports no I/O code). */
export interface SegmentBuildActivities {
  /** The whole build, resumable at its saved cursor. */
  buildSegment(req: { segmentId: string }): Promise<{ outcome: 'ready' | 'deleted' }>;
  failSegmentBuild(req: { segmentId: string; error: string }): Promise<void>;
}

export interface SegmentBuildInput {
  segmentId: string;
  /**
   * Waited before the first chunk: until every process's cached list of live segments has this
   * one (routing/segment-upkeep.ts), events are upkept without it; the first chunk reads them.
   */
  settleMs: number;
}

export const segmentBuildWorkflowId = (segmentId: string) => `segment-build:${segmentId}`;

const { buildSegment } = proxyActivities<SegmentBuildActivities>({
  startToCloseTimeout: '24 hours',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 5 },
});
const { failSegmentBuild } = proxyActivities<SegmentBuildActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});

export async function segmentBuildWorkflow(input: SegmentBuildInput): Promise<'ready' | 'deleted' | 'failed'> {
  await sleep(input.settleMs);
  try {
    return (await buildSegment({ segmentId: input.segmentId })).outcome;
  } catch (err) {
    if (!(err instanceof ActivityFailure)) throw err;
    await failSegmentBuild({ segmentId: input.segmentId, error: (err.cause ?? err).message });
    return 'failed';
  }
}
