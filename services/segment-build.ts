/**
 * Starting a segment's build workflow (workflows/segment-build.ts) from the API: the build runs
 * on the workers, survives a crash of either process, and resumes by itself.
 */
import type { WorkflowClient } from '@temporalio/client';
import { WorkflowIdConflictPolicy } from '@temporalio/common';
import type { Db } from '../db/pool';
import type { Logger } from '../runtime/logger';
import { LIVE_SEGMENTS_CACHE_MS } from '../routing/segment-upkeep';
import { JOURNEY_TASK_QUEUE } from '../runtime/journey-identity';
import { segmentBuildWorkflowId, type segmentBuildWorkflow } from '../workflows/segment-build';

export interface BuildDeps {
  db: Db;
  workflows: WorkflowClient;
  log: Logger;
}

/**
 * `fresh`: the segment was just created, so a build still running under its id belongs to a
 * deleted segment of the same name and is replaced; otherwise a running build is kept.
 */
export async function startSegmentBuild(workflows: WorkflowClient, segmentId: string, fresh: boolean): Promise<void> {
  await workflows.start<typeof segmentBuildWorkflow>('segmentBuildWorkflow', {
    taskQueue: JOURNEY_TASK_QUEUE,
    workflowId: segmentBuildWorkflowId(segmentId),
    args: [{ segmentId, settleMs: LIVE_SEGMENTS_CACHE_MS + 50 }],
    workflowIdConflictPolicy: fresh
      ? WorkflowIdConflictPolicy.TERMINATE_EXISTING
      : WorkflowIdConflictPolicy.USE_EXISTING,
    staticSummary: `Build of segment ${segmentId}`,
  });
}
