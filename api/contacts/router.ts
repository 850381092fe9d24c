import { Router } from 'express';
import { getContact } from '../../db/contacts';
import { listContactJourneys } from '../../db/journeys';
import { listContactMessages } from '../../db/messages';
import type { Db } from '../../db/pool';
import { notFound } from '../errors';

export function contactsRouter(deps: { db: Db }): Router {
  const router = Router();

  router.get('/:id', async (req, res) => {
    const contact = await getContact(deps.db, req.params.id);
    if (!contact) throw notFound(`contact "${req.params.id}"`);
    res.json(contact);
  });

  router.get('/:id/journeys', async (req, res) => {
    res.json({ journeys: await listContactJourneys(deps.db, req.params.id) });
  });

  router.get('/:id/messages', async (req, res) => {
    res.json({ messages: await listContactMessages(deps.db, req.params.id) });
  });

  return router;
}
