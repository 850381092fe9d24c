import { existsSync } from 'node:fs';
import path from 'node:path';
import { type NativeConnection, Worker, type WorkflowBundleOption } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';
import type { Logger } from '../runtime/logger';
import { contactDataConverter } from '../db/payload-codec';
import { createMaintenanceActivities } from './maintenance-activities';
import { createSegmentBuildActivities } from './segment-build-activities';
import { JOURNEY_TASK_QUEUE } from '../runtime/journey-identity';

export interface JourneyWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  activities: ActivityDeps;
  /** Where background passes (maintenance) log; silent by default. */
  log?: Logger;
  /**
   * Pre-built bundle: tests build it once per file; `npm run build` writes one next to the
   * compiled code (see prebuiltWorkflowBundle). Default: bundle workflows/ at start.
   */
  workflowBundle?: WorkflowBundleOption;
  /**
   * false: journeys' payloads in the clear (recording histories for the replay tests, which replay
   * without the keys). Default: encrypted per contact.
   */
  encryptPayloads?: boolean;
  /** Activities run at once; the worker's Postgres pool is sized to it (runtime/env.ts poolSettings). */
  activityConcurrency?: number;
}

/** Where `npm run build` puts the workflow bundle, relative to the compiled worker/ folder. */
export const WORKFLOW_BUNDLE_FILE = 'workflow-bundle.js';

/**
 * The bundle `npm run build` wrote next to this compiled file, if any. A production worker
 * loads it instead of running webpack at start (seconds of CPU, and the bundler's input is
 * exactly what was tested at build time). Running from source finds none.
 */
export function prebuiltWorkflowBundle(): { codePath: string } | undefined {
  const codePath = path.resolve(__dirname, '..', WORKFLOW_BUNDLE_FILE);
  return existsSync(codePath) ? { codePath } : undefined;
}

/** The only place that names workflowsPath. */
export function createJourneyWorker(opts: JourneyWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: JOURNEY_TASK_QUEUE,
    ...(opts.workflowBundle
      ? { workflowBundle: opts.workflowBundle }
      : { workflowsPath: require.resolve('../workflows') }),
    // Segment builds and maintenance reach routing/ (clock arming, reconciliation), which itself
    // reaches activities/: they live here, beside the journey's activities.
    // The journeys' payloads, encrypted with their contact's key (db/payload-codec.ts).
    ...(opts.encryptPayloads === false ? {} : { dataConverter: contactDataConverter(opts.activities.db) }),
    activities: {
      ...createActivities(opts.activities),
      ...createSegmentBuildActivities(opts.activities.db),
      ...createMaintenanceActivities(opts.activities.db, opts.log),
    },
    ...(opts.activityConcurrency ? { maxConcurrentActivityTaskExecutions: opts.activityConcurrency } : {}),
  });
}
