/**
 * What a message's Liquid sees, built here only, for journeys (send, webhook and profile steps),
 * campaigns and previews: `contact` (traits, id, email, phone), `event` (the trigger), `journey`
 * or `campaign`, `unsubscribe_url`, and extras a caller adds (a catalog's products). Pure.
 */
import type { TemplateContext } from '../flows/templates';

/** What `{{ unsubscribe_url }}` renders to until the message id (and so its link) exists. */
export const UNSUBSCRIBE_PLACEHOLDER = 'https://unsubscribe.parcours.invalid/';

export interface RenderContact {
  id: string;
  email: string | null;
  phone: string | null;
  traits: Record<string, unknown>;
  createdAt?: string;
}

export interface RenderJourney {
  flowId: string;
  flowVersion: number;
  runId: string;
  workflowId: string;
  startedAt: string;
}

export interface RenderEvent {
  name: string;
  properties: Record<string, unknown>;
  timestamp: string;
}

export interface RenderInput {
  /** Undefined: a contact we do not know (renders as an empty profile). */
  contact: RenderContact | undefined;
  /** Fields that override the stored profile (a preview's sample contact). */
  contactOverrides?: Record<string, unknown>;
  event?: RenderEvent;
  journey?: RenderJourney;
  campaign?: { id: string; name: string };
  /** Emails and SMS: the placeholder replaced by each message's own signed link. */
  unsubscribe?: boolean;
  extras?: Record<string, unknown>;
}

export type RenderContext = TemplateContext & { campaign?: Record<string, unknown> } & Record<string, unknown>;

/** A contact's profile as templates see it: traits, with id, email, phone and created_at over them. */
export function contactProfile(contact: RenderContact | undefined): Record<string, unknown> {
  if (!contact) return {};
  return {
    ...contact.traits,
    id: contact.id,
    email: contact.email,
    phone: contact.phone,
    ...(contact.createdAt !== undefined ? { created_at: contact.createdAt } : {}),
  };
}

export function renderContext(input: RenderInput): RenderContext {
  const { journey, campaign, event } = input;
  return {
    ...input.extras,
    contact: { ...contactProfile(input.contact), ...input.contactOverrides },
    event: event ? { name: event.name, properties: event.properties, timestamp: event.timestamp } : {},
    ...(journey
      ? {
          journey: {
            flowId: journey.flowId,
            flowVersion: journey.flowVersion,
            runId: journey.runId,
            workflowId: journey.workflowId,
            startedAt: journey.startedAt,
          },
        }
      : {}),
    ...(campaign ? { campaign: { id: campaign.id, name: campaign.name } } : {}),
    ...(input.unsubscribe ? { unsubscribe_url: UNSUBSCRIBE_PLACEHOLDER } : {}),
  };
}
