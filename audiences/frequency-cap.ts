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
 * A message's priority is written on its row when it is claimed (messages.priority): its flow
 * version's, or CAMPAIGN_PRIORITY for campaigns. Messages being sent (live claims) count as sent.
 * The rule itself is sending/policy.ts (capRefusalOf), applied by `decide`.
 */
import type { FlowDefinition, WhenCapped } from '../flows/schema';

export const CAPPED_CHANNELS = ['email', 'sms', 'push'] as const;
export type CappedChannel = (typeof CAPPED_CHANNELS)[number];

export const DEFAULT_FLOW_PRIORITY = 50;
export const CAMPAIGN_PRIORITY = 0;

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
