/**
 * The frequency cap: how many marketing messages one contact may get in a rolling 24 hours,
 * per channel (FREQUENCY_CAP_EMAIL_PER_DAY, _SMS_, _PUSH_) and over all channels together
 * (FREQUENCY_CAP_PER_DAY, as before per-channel caps existed). Every cap that is set applies.
 *
 * Priorities. Transactional messages are never capped and never counted. A marketing message
 * has a priority: its flow's `priority` (1-100, default 50); campaigns have CAMPAIGN_PRIORITY
 * (0, the lowest). The rule: a message counts against the cap only the messages of its own
 * priority or higher, so a lower priority never blocks a higher one. With an email cap of 1, an
 * abandoned-cart reminder (priority 80) goes out whatever promotions (priority 10, campaigns)
 * went out today, while a promotion after the reminder finds the cap reached: it is skipped or,
 * with `whenCapped: "wait"`, waits until the cap allows it. The price of the rule: a contact can
 * get more than the cap in a day when higher priorities come after lower ones (at most the cap
 * per distinct priority).
 *
 * A sent message's priority is read from the flow version that sent it (stored definitions are
 * the truth, so the message table needs no new column); a message row that belongs to no flow
 * version (a campaign's) has the campaign priority.
 */
import type { Queryable } from '../db/pool';
import type { FlowDefinition, WhenCapped } from '../flows/schema';

export const CAPPED_CHANNELS = ['email', 'sms', 'push'] as const;
export type CappedChannel = (typeof CAPPED_CHANNELS)[number];

export interface FrequencyCaps {
  /** Marketing messages per contact per 24 h, all channels together; 0: no cap. */
  allChannels: number;
  /** Per channel; 0 or absent: no cap on that channel. */
  perChannel: Partial<Record<CappedChannel, number>>;
}

export const DEFAULT_FLOW_PRIORITY = 50;
export const CAMPAIGN_PRIORITY = 0;
export const CAP_WINDOW_MS = 86_400_000;

/**
 * A flow's settings under the cap, with their defaults (flows stored before them have none).
 * A send of no known flow version is ranked as the cap ranks such message rows: as a campaign.
 */
export function flowCapSettings(flow: Pick<FlowDefinition, 'priority' | 'whenCapped'> | undefined): {
  priority: number;
  whenCapped: WhenCapped;
} {
  return {
    priority: flow ? (flow.priority ?? DEFAULT_FLOW_PRIORITY) : CAMPAIGN_PRIORITY,
    whenCapped: flow?.whenCapped ?? 'skip',
  };
}

export interface CapRefusal {
  reason: string;
  /** When the cap allows the message (ms): the counted message that must leave the window has left it. */
  until: number;
}

/**
 * Why a marketing message of this priority may not go to the contact on this channel at `now`
 * (ms), or undefined when it may. Campaign sends call it with CAMPAIGN_PRIORITY.
 */
export async function capRefusal(
  db: Queryable,
  contactId: string,
  channel: CappedChannel,
  priority: number,
  now: number,
  caps: FrequencyCaps,
): Promise<CapRefusal | undefined> {
  return (await capRefusals(db, [contactId], channel, priority, now, caps)).get(contactId);
}

/** capRefusal for a page of recipients in one query (campaigns): the refused ones, by contact id. */
export async function capRefusals(
  db: Queryable,
  contactIds: string[],
  channel: CappedChannel,
  priority: number,
  now: number,
  caps: FrequencyCaps,
): Promise<Map<string, CapRefusal>> {
  const refused = new Map<string, CapRefusal>();
  const channelCap = caps.perChannel[channel] ?? 0;
  if ((caps.allChannels <= 0 && channelCap <= 0) || contactIds.length === 0) return refused;
  const { rows } = await db.query<{ contact_id: string; channel: string; sent_at: Date }>(
    `SELECT m.contact_id, m.channel, m.sent_at
       FROM messages m
       LEFT JOIN flow_versions fv ON fv.flow_id = m.flow_id AND fv.version = m.flow_version
      WHERE m.contact_id = ANY($1::text[]) AND m.status = 'sent' AND NOT m.transactional AND m.channel <> 'webhook'
        AND m.sent_at > $2 AND m.sent_at <= $3
        AND ($5::text IS NULL OR m.channel = $5)
        AND CASE WHEN fv.flow_id IS NULL THEN $6::int ELSE COALESCE((fv.definition ->> 'priority')::int, $7::int) END >= $4
      ORDER BY m.contact_id, m.sent_at DESC`,
    [
      contactIds,
      new Date(now - CAP_WINDOW_MS),
      new Date(now),
      priority,
      caps.allChannels > 0 ? null : channel,
      CAMPAIGN_PRIORITY,
      DEFAULT_FLOW_PRIORITY,
    ],
  );
  const byContact = new Map<string, { channel: string; at: number }[]>();
  for (const r of rows)
    byContact.set(r.contact_id, [
      ...(byContact.get(r.contact_id) ?? []),
      { channel: r.channel, at: r.sent_at.getTime() },
    ]);
  for (const [contactId, sent] of byContact) {
    const refusals = [
      overCap(
        sent.map((m) => m.at),
        caps.allChannels,
        (n) => `frequency cap: ${n} marketing messages in the last 24 h (cap ${caps.allChannels})`,
      ),
      overCap(
        sent.filter((m) => m.channel === channel).map((m) => m.at),
        channelCap,
        (n) =>
          `frequency cap: ${n} marketing ${channel} message${n === 1 ? '' : 's'} in the last 24 h (${channel} cap ${channelCap})`,
      ),
    ].filter((r): r is CapRefusal => r !== undefined);
    // Both caps reached: the message waits for the later of the two.
    const latest = refusals.sort((a, b) => b.until - a.until)[0];
    if (latest) refused.set(contactId, latest);
  }
  return refused;
}

/** `sentAt` newest first: the cap-th newest must leave the window before one more may go. */
function overCap(sentAt: number[], cap: number, reason: (n: number) => string): CapRefusal | undefined {
  if (cap <= 0 || sentAt.length < cap) return undefined;
  return { reason: reason(sentAt.length), until: sentAt[cap - 1] + CAP_WINDOW_MS };
}
