/**
 * The frequency cap read for contacts on their own (support, tests): the facts the sending policy
 * reads (db/send-facts.ts) and its cap rule (sending/policy.ts capRefusalOf). Senders decide with
 * `decide`, under the contact's send lock.
 */
import type { CappedChannel } from '../audiences/frequency-cap';
import type { Queryable } from '../db/pool';
import { loadSendFacts } from '../db/send-facts';
import { CAP_WINDOW_MS, capRefusalOf, type CapRefusal, type FrequencyCaps } from '../sending/policy';

/**
 * Why a marketing message of this priority may not go to the contact on this channel at `now`
 * (ms), or undefined when it may.
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

/** capRefusal for a set of contacts in one query: the refused ones, by contact id. */
export async function capRefusals(
  db: Queryable,
  contactIds: string[],
  channel: CappedChannel,
  priority: number,
  now: number,
  caps: FrequencyCaps,
): Promise<Map<string, CapRefusal>> {
  const refused = new Map<string, CapRefusal>();
  const facts = await loadSendFacts(db, contactIds, { channel, priority, now, capWindowMs: CAP_WINDOW_MS });
  for (const [contactId, f] of facts) {
    const capped = capRefusalOf(f.recent, channel, now, caps);
    if (capped) refused.set(contactId, capped);
  }
  return refused;
}
