/**
 * `/v1/campaigns` (admin key): define a campaign, send or schedule it, pause, resume or cancel
 * it, and read its progress and numbers. Sending is one Temporal workflow per run
 * (workflows/campaign.ts), started and signalled by services/campaigns.ts.
 */
import { Router } from 'express';
import type { SignalDefinition } from '@temporalio/common';
import { campaignInput, type CampaignDefinition } from '../../campaigns/schema';
import { listCampaigns } from '../../db/campaigns';
import { DEFAULT_CONVERSION_WINDOW_DAYS } from '../../db/stats';
import { slug } from '../../flows/schema';
import { cancelCampaignSignal, pauseCampaignSignal, resumeCampaignSignal } from '../../workflows/campaign-messages';
import {
  campaignStats,
  campaignWithProgress,
  saveCampaignDefinition,
  signalCampaign,
  startCampaign,
  type CampaignDeps,
} from '../../services/campaigns';
import { invalid } from '../errors';
import { parseOr400, storableParam } from '../validate';
import { z } from 'zod';
import { EVENTS } from '../../flows/event-names';

const statsQuery = z.strictObject({
  conversionWindowDays: z.coerce.number().int().min(1).max(90).default(DEFAULT_CONVERSION_WINDOW_DAYS),
  goalEvent: z.string().min(1).max(200).default(EVENTS.orderCompleted),
});

export function campaignsRouter(deps: CampaignDeps): Router {
  const router = Router();
  router.param('id', storableParam('id'));

  router.get('/', async (_req, res) => {
    res.json({ campaigns: await listCampaigns(deps.db) });
  });

  router.get('/:id', async (req, res) => {
    res.json(await campaignWithProgress(deps, req.params.id));
  });

  router.put('/:id', async (req, res) => {
    const id = parseOr400(slug, req.params.id);
    const parsed = parseOr400(campaignInput, req.body);
    if (parsed.id !== undefined && parsed.id !== id)
      throw invalid([{ path: ['id'], message: `body id "${parsed.id}" does not match the URL ("${id}")` }]);
    const definition: CampaignDefinition = { ...parsed, id };
    const saved = await saveCampaignDefinition(deps.db, definition);
    res.status(saved.created ? 201 : 200).json(saved.campaign);
  });

  router.post('/:id/send', async (req, res) => {
    res.status(202).json(await startCampaign(deps, req.params.id, true));
  });
  router.post('/:id/schedule', async (req, res) => {
    res.status(202).json(await startCampaign(deps, req.params.id, false));
  });

  const signalRoute = (action: 'pause' | 'resume' | 'cancel', signal: SignalDefinition) =>
    router.post(`/:id/${action}`, async (req, res) => {
      await signalCampaign(deps, req.params.id, signal);
      res.status(202).json({ id: req.params.id, requested: action });
    });
  signalRoute('pause', pauseCampaignSignal);
  signalRoute('resume', resumeCampaignSignal);
  signalRoute('cancel', cancelCampaignSignal);

  router.get('/:id/stats', async (req, res) => {
    const query = parseOr400(statsQuery, { ...req.query });
    res.json(await campaignStats(deps.db, req.params.id, query));
  });

  return router;
}
