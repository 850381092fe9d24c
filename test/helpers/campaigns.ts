/**
 * What campaign tests share: lists, campaigns through the API, the run's workflow handle, the
 * deliveries and message rows of a campaign, and recording a history for the replay test
 * (`RECORD_HISTORIES=1`, test/histories/campaign/, replayed by test/campaigns-replay.test.ts).
 * Takes the harness lazily: tests start it in beforeAll.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { CampaignInput } from '../../campaigns/schema';
import { campaignWorkflowId } from '../../workflows/campaign-messages';
import { deliveriesOf } from './fake-sendgrid';
import type { Harness } from './harness';

export function campaignHelpers(harness: () => Harness) {
  const createList = async (id: string, contactIds: string[]) => {
    const h = harness();
    expect((await h.http('post', '/v1/lists').send({ id, name: id })).status).toBe(201);
    if (contactIds.length > 0)
      expect(
        (
          await h
            .http('post', `/v1/lists/${id}/members`)
            .send({ contacts: contactIds.map((contactId) => ({ contactId })) })
        ).status,
      ).toBeLessThan(300);
  };
  const putCampaign = async (id: string, campaign: CampaignInput) => {
    const res = await harness().http('put', `/v1/campaigns/${id}`).send(campaign);
    if (res.status >= 300) throw new Error(`PUT campaign ${id}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  };
  const recordHistory = async (name: string, workflowId: string) => {
    if (process.env.RECORD_HISTORIES !== '1') return;
    const dir = path.join(__dirname, '..', 'histories', 'campaign');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      path.join(dir, `${name}.json`),
      `${historyToJSON(await harness().env.client.workflow.getHandle(workflowId).fetchHistory())}\n`,
    );
  };
  const run = (runId: string) => harness().env.client.workflow.getHandle(campaignWorkflowId(runId));
  const deliveries = (campaignId: string) =>
    deliveriesOf(harness().sendgrid).filter((d) => d.customArgs.parcours_campaign_id === campaignId);
  const messagesOf = async (campaignId: string) =>
    (
      await harness().db.query<{
        id: string;
        contact_id: string;
        status: string;
        reason: string | null;
        sent_at: Date | null;
      }>('SELECT id, contact_id, status, reason, sent_at FROM messages WHERE campaign_id = $1 ORDER BY contact_id', [
        campaignId,
      ])
    ).rows;
  return { createList, putCampaign, recordHistory, run, deliveries, messagesOf };
}
