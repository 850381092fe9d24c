/**
 * GDPR: `GET /v1/contacts/:id/export` (everything held about the person, streamed as one JSON
 * document) and `DELETE /v1/contacts/:id` (erasure: data gone, journeys ended in Temporal,
 * addresses kept suppressed as hashes only).
 */
import type { Response } from 'express';
import { WorkflowNotFoundError, type WorkflowClient } from '@temporalio/client';
import { eraseContacts, planErasure, type ErasureResult } from '../../db/contact-erase';
import { exportContactData } from '../../db/contact-export';
import { inTransaction, type Db } from '../../db/pool';
import { legacySegmentClockWorkflowId, segmentClockWorkflowId } from '../../routing/segment-clock-arming';
import type { Logger } from '../../runtime/logger';
import { HttpError } from '../errors';
import { contactProfile } from '../../services/contact-profile';

export const ERASURE_REASON = 'contact erased (GDPR erasure request)';

interface GdprDeps {
  db: Db;
  workflows: WorkflowClient;
  log: Logger;
}

/** Writes, respecting the client's pace (a large export must not pile up in memory). */
function writer(res: Response) {
  return (text: string) =>
    new Promise<void>((resolve, reject) => {
      if (res.destroyed) return reject(new Error('client went away'));
      if (res.write(text)) return resolve();
      res.once('drain', resolve);
      res.once('close', () => reject(new Error('client went away')));
    });
}

/** False when there is no such contact. Once the answer has started, a failure can only cut it short. */
export async function streamExport(deps: GdprDeps, id: string, res: Response): Promise<boolean> {
  const profile = await contactProfile(deps.db, id);
  if (!profile) return false;
  const plan = await planErasure(deps.db, id);
  const ids = plan?.ids ?? [profile.id];
  res.status(200).type('application/json');
  res.setHeader('Content-Disposition', `attachment; filename="contact-export.json"`);
  const write = writer(res);
  await write(
    `{"exportedAt":${JSON.stringify(new Date().toISOString())},"contactId":${JSON.stringify(profile.id)},"ids":${JSON.stringify(ids)},"profile":${JSON.stringify(profile)},"data":{`,
  );
  let sections = 0;
  let rowsInSection = 0;
  try {
    await exportContactData(deps.db, ids, {
      async section(name) {
        await write(`${sections++ ? ']' + ',' : ''}${JSON.stringify(name)}:[`);
        rowsInSection = 0;
      },
      async rows(rows) {
        await write(rows.map((r) => `${rowsInSection++ ? ',' : ''}${JSON.stringify(r)}`).join(''));
      },
    });
    await write(`${sections ? ']' : ''}}}`);
    res.end();
  } catch (err) {
    // The status line is gone: an unfinished document (and a closed connection) says it failed.
    deps.log.error({ err }, 'contact export failed midway');
    res.destroy(err as Error);
  }
  return true;
}

export interface ErasureOutcome extends ErasureResult {
  journeysEnded: number;
}

/**
 * Ends the person's live journeys and segment clocks in Temporal first (a journey still running
 * could send, and so write their data again; a clock armed before ids were hashed carries the
 * id, maybe an address, in its workflow id), then erases the data in one transaction, then ends
 * any journey or clock that started in between. Temporal unreachable: nothing is erased (503),
 * the client retries.
 */
export async function eraseContact(deps: GdprDeps, id: string): Promise<ErasureOutcome | undefined> {
  const plan = await planErasure(deps.db, id);
  if (!plan) return undefined;
  const clocks = plan.ids.flatMap((contactId) => [
    segmentClockWorkflowId(contactId),
    legacySegmentClockWorkflowId(contactId),
  ]);
  await endWorkflows(deps, clocks);
  let ended = await endWorkflows(deps, plan.liveWorkflows);
  const result = await inTransaction(deps.db, (tx) => eraseContacts(tx, plan.ids));
  await endWorkflows(deps, clocks).catch((err: unknown) =>
    deps.log.error({ err, erasureId: result.erasureId }, 'erased, but a segment clock armed meanwhile was not ended'),
  );
  // Started between our look and the erasure's lock: their rows say erased already; end them too.
  const late = result.liveWorkflows.filter((w) => !plan.liveWorkflows.includes(w));
  ended += await endWorkflows(deps, late).catch((err: unknown) => {
    deps.log.error(
      { err, erasureId: result.erasureId, workflows: late.length },
      'erased, but journeys started meanwhile could not be ended',
    );
    return 0;
  });
  deps.log.info({ erasureId: result.erasureId, counts: result.counts, journeysEnded: ended }, 'contact erased');
  return { ...result, journeysEnded: ended };
}

async function endWorkflows(deps: GdprDeps, workflowIds: string[]): Promise<number> {
  let ended = 0;
  for (const workflowId of workflowIds) {
    try {
      await deps.workflows.getHandle(workflowId).terminate(ERASURE_REASON);
      ended++;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) continue; // ended already (or never started)
      deps.log.warn({ err, workflowId }, 'ending a workflow of an erased contact failed');
      throw new HttpError(
        503,
        'unavailable',
        'the journeys of this contact cannot be ended now (Temporal unreachable); nothing was erased, retry later',
      );
    }
  }
  return ended;
}
