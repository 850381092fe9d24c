import { NativeConnection, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';
import { JOURNEY_TASK_QUEUE } from '../workflows/journey-identity';

export interface JourneyWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  activities: ActivityDeps;
  /** Pre-built bundle (tests build it once per file); default: bundle workflows/ at start. */
  workflowBundle?: WorkflowBundleWithSourceMap;
  /** Activities run at once; the worker's Postgres pool is sized to it (runtime/env.ts poolSettings). */
  activityConcurrency?: number;
}

/** The only place that names workflowsPath. */
export function createJourneyWorker(opts: JourneyWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: JOURNEY_TASK_QUEUE,
    ...(opts.workflowBundle ? { workflowBundle: opts.workflowBundle } : { workflowsPath: require.resolve('../workflows') }),
    activities: createActivities(opts.activities),
    ...(opts.activityConcurrency ? { maxConcurrentActivityTaskExecutions: opts.activityConcurrency } : {}),
  });
}
