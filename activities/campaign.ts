/**
 * Campaign activities: freeze a run's audience, send one page of it, say what is left.
 *
 * A page is claimed in two phases, so each recipient gets the message exactly once per run
 * across crashes: one statement claims its messages (db/campaigns.ts claimCampaignMessages), and
 * one more marks them handed to the provider immediately before the call (handToProvider).
 * What a dead attempt left is settled first: a claim never handed is claimed again and sent; a
 * handed one may have reached the provider and is recorded "unknown", never sent again, with
 * the journeys' rule (activities/send-claim.ts; campaigns are marketing). Emails go to SendGrid as one request per page
 * (up to 1,000 personalizations,
 * each with our message id as custom args); SMS and push go one by one, a few at a time.
 */
import { withMarketingFooter } from '../locales/sms-footer';
import { contactLanguage, ENGLISH_ONLY, escapeHtml, textOf } from '../locales/texts';
import { randomUUID } from 'node:crypto';
import { ApplicationFailure, asyncLocalStorage } from '@temporalio/activity';
// p-limit 3.x, the last CommonJS major: this project is CommonJS (no "type": "module"; tsc module nodenext) and
// jest runs it through a CJS transform that leaves node_modules untransformed, where the ESM-only majors (4+)
// fail with "Cannot use import statement outside a module".
import pLimit from 'p-limit';
import { CAMPAIGN_PRIORITY } from '../audiences/frequency-cap';
import {
  variantMessage,
  type CampaignDefinition,
  type CampaignMessage,
  type MomentSchedule,
} from '../campaigns/schema';
import {
  chooseWinner,
  claimCampaignMessages,
  deferRecipients,
  duePage,
  finishCampaignMessages,
  freezeAudience,
  handToProvider,
  settlePage,
  recordCampaignSkips,
  remaining,
  renewCampaignLeases,
  setCampaignStatus,
  setRunStatus,
  type CampaignMessageKey,
  type PageRecipient,
} from '../db/campaigns';
import { inTransaction, type Db, type Queryable } from '../db/pool';
import { addressOf, loadSendFacts, lockContactSends, type ContactSendFacts } from '../db/send-facts';
import { pushSubscriptionsOf, deletePushSubscriptions } from '../db/push-subscriptions';
import { appendToHtml, unsubscribeUrl } from '../sending/links';
import { engineFor, MAX_RENDERED_CHARS, templateFields } from '../flows/templates';
import { CAP_WINDOW_MS, decide, type Decision, type FrequencyCaps } from '../sending/policy';
import { renderContext, UNSUBSCRIBE_PLACEHOLDER } from '../sending/render-context';
import type { ActivityDeps } from './deps';
import { defaultTimezone } from './clock';
import { DEFAULT_LEASE_MS } from './send-claim';
import { ProviderError, substitutionTag, type OutgoingEmailBatch, type SendResult } from './providers/types';
import { momentOccurrence, nextOccurrence, type LocalSend, type MomentOccurrence } from '../campaigns/occurrences';
import { countCampaignPage } from '../metrics/registry';

/** SMS and push: provider calls at once per page. */
const PER_RECIPIENT_CONCURRENCY = 10;
const UNSUBSCRIBE_TAG = 'parcours_unsubscribe';
const UNSUBSCRIBE_LABEL_TAG = 'parcours_unsubscribe_label';

export interface PageRequest {
  runId: string;
  campaign: CampaignDefinition;
  /** Workflow time, ms. */
  now: number;
  /** The window of the frozen audience (by `ord`): recipients after `afterOrd`, `limit` of them. */
  afterOrd: number;
  limit: number;
  /** A/B test phase: only the test's members. */
  testOnly?: boolean;
}

export interface PageOutcome {
  /** Recipients settled by this page (sent, skipped, unknown, failed). */
  settled: number;
  sent: number;
  skipped: number;
  unknown: number;
  failed: number;
  /** Recipients in quiet hours, due again when their window ends. */
  deferred: number;
}

/** The caps the journeys apply (activities/index.ts), read from the same settings. */
export function campaignCaps(deps: Pick<ActivityDeps, 'frequencyCapPerDay' | 'frequencyCapPerChannel'>): FrequencyCaps {
  return { allChannels: deps.frequencyCapPerDay ?? 0, perChannel: deps.frequencyCapPerChannel ?? {} };
}

/**
 * The send policy (sending/policy.ts) for one recipient of the page, from the facts read under
 * the page's send locks. Campaigns rank lowest (CAMPAIGN_PRIORITY): every marketing message
 * counts for smart sending and the cap, while a campaign never holds back a flow's message.
 */
function decideFor(
  r: PageRecipient,
  facts: ContactSendFacts | undefined,
  campaign: CampaignDefinition,
  now: number,
  deps: Pick<ActivityDeps, 'consentEmail' | 'frequencyCapPerDay' | 'frequencyCapPerChannel'>,
): Decision {
  const channel = campaign.message.type;
  return decide(
    {
      to: facts ? addressOf(facts, channel) : null,
      suppressed: facts?.suppressed ?? false,
      consent: facts?.consent ?? 'never_asked',
      zone: r.zone,
      lastSentAt: facts?.lastSentAt ?? null,
      recent: facts?.recent ?? [],
    },
    {
      channel,
      transactional: false,
      now,
      consentEmail: deps.consentEmail ?? 'opt_out',
      requireSubscribed: campaign.requireSubscribed,
      quietHours: campaign.quietHours ?? null,
      smartSendingHours: campaign.smartSending.enabled ? campaign.smartSending.hours : null,
      caps: campaignCaps(deps),
      whenCapped: campaign.whenCapped ?? 'skip',
    },
  );
}

/**
 * The message's fields parsed once per page and rendered per recipient (parsing is most of the
 * cost of a Liquid render: a page of 1,000 renders 3 times faster), with the journeys' engines
 * and output limit (flows/templates.ts). A field without Liquid markup (often the whole body of
 * a newsletter) is the same for everyone: rendered once per page, one string the page's
 * recipients share.
 */
function pageRenderer(message: CampaignMessage): (context: object) => Promise<Record<string, string>> {
  const fields = Object.entries(templateFields(message)).map(([field, source]) => {
    const engine = engineFor(message, field);
    return {
      field,
      engine,
      template: engine.parse(source),
      constant: !source.includes('{{') && !source.includes('{%') ? undefined : null,
    };
  });
  const once = new Map<string, string>();
  return async (context) => {
    const rendered: Record<string, string> = {};
    for (const { field, engine, template, constant } of fields) {
      const known = constant === undefined ? once.get(field) : undefined;
      if (known !== undefined) {
        rendered[field] = known;
        continue;
      }
      const output = (await engine.render(template, context)) as string;
      if (output.length > MAX_RENDERED_CHARS)
        throw new Error(`rendered output is larger than ${MAX_RENDERED_CHARS} characters`);
      if (constant === undefined) once.set(field, output);
      rendered[field] = output;
    }
    return rendered;
  };
}

/**
 * Runs a provider call under this attempt's claims: heartbeats (a dead worker is noticed at the
 * heartbeat timeout) and renews the leases, so a long batch is never taken for a dead one.
 */
async function underLease<T>(db: Db, owner: string, leaseMs: number, call: () => Promise<T>): Promise<T> {
  const context = asyncLocalStorage.getStore();
  const tick = setInterval(
    () => {
      context?.heartbeat();
      renewCampaignLeases(db, owner, leaseMs).catch(() => undefined);
    },
    Math.max(200, Math.min(5_000, Math.floor(leaseMs / 3))),
  );
  try {
    context?.heartbeat();
    return await call();
  } finally {
    clearInterval(tick);
  }
}

/** A failed provider call for these messages, by the send rule: unknown, retried, or failed. */
async function settleFailedCall(db: Db, ids: string[], owner: string, err: unknown): Promise<'unknown' | 'failed'> {
  if (!(err instanceof ProviderError)) throw err; // a bug: the claims expire and the retry settles them as unknown
  if (err.ambiguous) {
    await finishCampaignMessages(db, ids, {
      status: 'unknown',
      reason: `outcome unknown (${err.message}); marketing messages are not sent again`,
      owner,
    });
    return 'unknown';
  }
  if (err.retryable) {
    await finishCampaignMessages(db, ids, { status: 'retrying', reason: err.message, owner });
    throw err; // Temporal retries the page with backoff; these rows are claimed again
  }
  await finishCampaignMessages(db, ids, { status: 'failed', reason: err.message, owner });
  return 'failed';
}

/** `each` over `items` in order, at most `concurrency` at a time. */
async function pool<T>(items: T[], concurrency: number, each: (item: T) => Promise<void>): Promise<void> {
  const limit = pLimit(concurrency);
  await Promise.all(items.map((item) => limit(() => each(item))));
}

export function createCampaignActivities(deps: ActivityDeps) {
  const db = deps.db;
  const texts = deps.texts ?? ENGLISH_ONLY;
  const leaseMs = deps.sendLeaseMs ?? DEFAULT_LEASE_MS;

  interface Claimed {
    contactId: string;
    messageId: string;
    to: string;
    rendered: Record<string, string>;
    /** The contact's language: the words of the unsubscribe footer Parcours adds. */
    language: string;
  }

  /** The page's requests the provider accepted, recorded "sent" with the page's end (one statement). */
  type Accepted = { ids: string[]; providerMessageId: string }[];

  /** Emails: one request per distinct body (subjects are per personalization), up to 1,000 recipients each. */
  async function sendEmails(
    campaign: CampaignDefinition,
    variant: CampaignMessage,
    claimed: Claimed[],
    owner: string,
    accepted: Accepted,
    outcome: PageOutcome,
    lost: Set<string>,
  ): Promise<void> {
    const message = variant as Extract<CampaignMessage, { type: 'email' }>;
    // By html, then text: a lookup of the (usually shared) string, never a copy of the body.
    const groups = new Map<string, Map<string | undefined, Claimed[]>>();
    for (const c of claimed) {
      const byText = groups.get(c.rendered.html) ?? groups.set(c.rendered.html, new Map()).get(c.rendered.html)!;
      const group = byText.get(c.rendered.text);
      if (group) group.push(c);
      else byText.set(c.rendered.text, [c]);
    }
    const tag = substitutionTag(UNSUBSCRIBE_TAG);
    // The footer's words differ by recipient's language within one body: a substitution like the link.
    const labelTag = substitutionTag(UNSUBSCRIBE_LABEL_TAG);
    for (const claimedGroup of [...groups.values()].flatMap((byText) => [...byText.values()])) {
      const handed = await handToProvider(
        db,
        owner,
        claimedGroup.map((c) => c.messageId),
      );
      const group = claimedGroup.filter((c) => handed.has(c.messageId));
      // The rest: another attempt took them over after our lease ran out; theirs to settle.
      for (const c of claimedGroup) if (!handed.has(c.messageId)) lost.add(c.messageId);
      if (group.length === 0) continue;
      const ids = group.map((c) => c.messageId);
      const { rendered } = group[0];
      // Each recipient's own unsubscribe link goes in by substitution; a footer when the template has none.
      const html = rendered.html.includes(UNSUBSCRIBE_PLACEHOLDER)
        ? rendered.html.split(UNSUBSCRIBE_PLACEHOLDER).join(tag)
        : appendToHtml(rendered.html, `<p style="font-size:12px;color:#888"><a href="${tag}">${labelTag}</a></p>`);
      const batch: OutgoingEmailBatch = {
        from: message.from ?? deps.emailFrom,
        html,
        ...(rendered.text ? { text: rendered.text.split(UNSUBSCRIBE_PLACEHOLDER).join(tag) } : {}),
        personalizations: group.map((c) => {
          const link = unsubscribeUrl(deps.links, c.messageId); // signed once: header and body
          return {
            to: c.to,
            subject: c.rendered.subject,
            customArgs: { parcours_message_id: c.messageId, parcours_campaign_id: campaign.id },
            headers: { 'List-Unsubscribe': `<${link}>`, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' },
            substitutions: {
              [tag]: link,
              [labelTag]: escapeHtml(textOf(texts, c.language, 'email.unsubscribe_link')),
            },
          };
        }),
      };
      try {
        const send = deps.email.sendBatch;
        const result = send
          ? await underLease(db, owner, leaseMs, () => send(batch))
          : await underLease(db, owner, leaseMs, () => sendEachEmail(batch));
        accepted.push({ ids, providerMessageId: result.providerMessageId });
        outcome.sent += ids.length;
      } catch (err) {
        outcome[await settleFailedCall(db, ids, owner, err)] += ids.length;
      }
    }
  }

  /** A provider without batches (the outbox): one message per personalization. */
  async function sendEachEmail(batch: OutgoingEmailBatch): Promise<SendResult> {
    let last: SendResult = { providerMessageId: '' };
    for (const p of batch.personalizations) {
      const sub = (text: string) =>
        Object.entries(p.substitutions ?? {}).reduce((t, [k, v]) => t.split(k).join(v), text);
      last = await deps.email.send({
        to: p.to,
        from: batch.from,
        subject: p.subject,
        html: sub(batch.html),
        text: batch.text && sub(batch.text),
        customArgs: p.customArgs,
        headers: p.headers,
      });
    }
    return last;
  }

  /** SMS and push: one provider call per recipient, a few at a time; each settled on its own. */
  async function sendEach(
    campaign: CampaignDefinition,
    claimed: Claimed[],
    owner: string,
    sentAt: Date,
    outcome: PageOutcome,
    lost: Set<string>,
  ): Promise<void> {
    await pool(claimed, PER_RECIPIENT_CONCURRENCY, async (c) => {
      const customArgs = { parcours_message_id: c.messageId, parcours_campaign_id: campaign.id };
      try {
        let result: SendResult;
        if (campaign.message.type === 'sms') {
          if (!(await handToProvider(db, owner, [c.messageId])).has(c.messageId)) return void lost.add(c.messageId);
          result = await underLease(db, owner, leaseMs, () => deps.sms.send({ to: c.to, body: c.rendered.body }));
        } else {
          const subscriptions = await pushSubscriptionsOf(db, c.contactId);
          const payload = JSON.stringify({
            title: c.rendered.title,
            body: c.rendered.body,
            url: c.rendered.url,
            icon: c.rendered.icon,
            data: customArgs,
          });
          if (!(await handToProvider(db, owner, [c.messageId])).has(c.messageId)) return void lost.add(c.messageId);
          result = await underLease(db, owner, leaseMs, () => deps.push.send({ subscriptions, payload }));
          await deletePushSubscriptions(db, result.gone ?? []);
        }
        await finishCampaignMessages(db, [c.messageId], {
          status: 'sent',
          providerMessageId: result.providerMessageId,
          sentAt,
          owner,
        });
        outcome.sent += 1;
      } catch (err) {
        if (err instanceof ProviderError && err.partial) await deletePushSubscriptions(db, err.partial.gone ?? []);
        outcome[await settleFailedCall(db, [c.messageId], owner, err)] += 1;
      }
    });
  }

  async function sendCampaignPage(req: PageRequest): Promise<PageOutcome> {
    const { campaign, runId } = req;
    const now = Math.max(req.now, Date.now());
    const outcome: PageOutcome = { settled: 0, sent: 0, skipped: 0, unknown: 0, failed: 0, deferred: 0 };
    const page = await duePage(db, runId, req.now, {
      afterOrd: req.afterOrd,
      limit: req.limit,
      testOnly: req.testOnly,
    });
    if (page.length === 0) return outcome;
    // What earlier attempts of this page left (read with the page): settled messages are done; a
    // live claim is another attempt at work (retry later); a dead claim never handed to the
    // provider is sent again; a dead one that was handed may have reached the provider: unknown.
    const done: string[] = [];
    const dead: string[] = [];
    const open: PageRecipient[] = [];
    for (const r of page) {
      const p = r.previous;
      if (!p || p.status === 'retrying' || (p.status === 'sending' && !p.live && !p.handed)) open.push(r);
      else if (p.status === 'sending' && p.live)
        throw ApplicationFailure.retryable(
          `campaign ${campaign.id}: another attempt holds the message of ${r.contactId}`,
          'MessageClaimed',
        );
      else if (p.status === 'sending') {
        dead.push(p.id);
        done.push(r.contactId);
      } else done.push(r.contactId);
    }
    await finishCampaignMessages(db, dead, {
      status: 'unknown',
      reason: 'outcome unknown (an attempt died while sending); marketing messages are not sent again',
      owner: null,
    });
    outcome.unknown += dead.length;

    // One group per variant (A/B tests), each with its message and its message rows' variant.
    const settled = [...done];
    const groups = new Map<string | null, PageRecipient[]>();
    for (const r of open) {
      const group = groups.get(r.variant);
      if (group) group.push(r);
      else groups.set(r.variant, [r]);
    }
    const accepted: Accepted = [];
    const sentAt = new Date(now);
    // This attempt: the owner of every claim it makes, whose finishes are the only ones it records.
    const owner = randomUUID();
    try {
      for (const [variantId, recipients] of groups) {
        const message = variantMessage(campaign, variantId);
        settled.push(...(await sendGroup(campaign, message, recipients, { runId, now, owner, outcome, accepted })));
      }
    } catch (err) {
      // The page is retried: what the provider took is recorded now, or the retry would take it for unknown.
      for (const a of accepted)
        await finishCampaignMessages(db, a.ids, {
          status: 'sent',
          providerMessageId: a.providerMessageId,
          sentAt,
          owner,
        });
      throw err;
    }
    await settlePage(db, runId, settled, accepted, sentAt, owner);
    outcome.settled = settled.length;
    const channel = campaign.message.type;
    countCampaignPage(
      channel,
      channel === 'email' ? deps.email.name : channel === 'sms' ? deps.sms.name : deps.push.name,
      outcome,
    );
    return outcome;
  }

  /**
   * Rules, rendering, one claim and the provider calls for the page's recipients of one message; answers who is
   * settled.
   */
  async function sendGroup(
    campaign: CampaignDefinition,
    message: CampaignMessage,
    open: PageRecipient[],
    at: { runId: string; now: number; owner: string; outcome: PageOutcome; accepted: Accepted },
  ): Promise<string[]> {
    const { runId, now, owner, outcome, accepted } = at;
    const channel = message.type;
    const key: CampaignMessageKey = { runId, campaignId: campaign.id, channel, variant: message.id };
    const skips: { contactId: string; recipient: string | null; reason: string }[] = [];
    const deferred: { contactId: string; until: number }[] = [];
    const toSend: { r: PageRecipient; to: string; rendered: Record<string, string>; language: string }[] = [];
    const render = pageRenderer(message);
    const caps = campaignCaps(deps);
    const contactIds = open.map((r) => r.contactId);
    // Facts, decisions and claims under the recipients' send locks: a journey sending to one of
    // them at the same moment decides before or after this page, never beside it.
    const capped = caps.allChannels > 0 || (caps.perChannel[channel] ?? 0) > 0;
    const smart = campaign.smartSending.enabled && campaign.smartSending.hours > 0;
    const decideAndClaim = async (tx: Queryable) => {
      const facts = await loadSendFacts(tx, contactIds, {
        channel,
        priority: CAMPAIGN_PRIORITY,
        now,
        capWindowMs: capped ? CAP_WINDOW_MS : 0,
        lastSent: smart,
      });
      for (const r of open) {
        const f = facts.get(r.contactId);
        const decision = decideFor(r, f, campaign, now, deps);
        if (decision.kind === 'defer') {
          deferred.push({ contactId: r.contactId, until: decision.until });
          continue;
        }
        if (decision.kind === 'skip') {
          skips.push({ contactId: r.contactId, recipient: decision.to, reason: decision.reason });
          continue;
        }
        try {
          const context = renderContext({
            contact: f && { id: f.contactId, email: f.email, phone: f.phone, traits: f.traits },
            campaign,
            unsubscribe: true,
          });
          const rendered = await render(context);
          // Campaigns are marketing: an SMS carries the shop's opt-out wording in the contact's language.
          if (channel === 'sms' && rendered.body !== undefined)
            rendered.body = withMarketingFooter(rendered.body, texts, f?.traits);
          toSend.push({ r, to: decision.to, rendered, language: contactLanguage(texts, f?.traits) });
        } catch (err) {
          skips.push({
            contactId: r.contactId,
            recipient: decision.to,
            reason: `template error: ${(err as Error).message}`,
          });
        }
      }
      await recordCampaignSkips(tx, key, skips);
      await deferRecipients(tx, runId, deferred);
      return claimCampaignMessages(tx, key, {
        owner,
        leaseMs,
        provider: channel === 'email' ? deps.email.name : channel === 'sms' ? deps.sms.name : deps.push.name,
        recipients: toSend.map((s) => ({ contactId: s.r.contactId, recipient: s.to, content: s.rendered })),
      });
    };
    // Only a decision that counts other sends (the cap, smart sending) needs them serialised.
    const claimedIds =
      capped || smart
        ? await inTransaction(db, async (tx) => {
            await lockContactSends(tx, contactIds);
            return decideAndClaim(tx);
          })
        : await decideAndClaim(db);
    outcome.skipped += skips.length;
    outcome.deferred += deferred.length;

    // Not claimed: another attempt got there since we looked; a later page settles them.
    const claimed: Claimed[] = toSend
      .filter((s) => claimedIds.has(s.r.contactId))
      .map((s) => ({
        contactId: s.r.contactId,
        messageId: claimedIds.get(s.r.contactId)!,
        to: s.to,
        rendered: s.rendered,
        language: s.language,
      }));
    const sentAt = new Date(now);
    // Settled here: only what this attempt still held when handing it over (a stalled attempt's
    // recipients the retry took are the retry's: marking them done would skip them if it died too).
    const lost = new Set<string>();
    if (channel === 'email') await sendEmails(campaign, message, claimed, owner, accepted, outcome, lost);
    else await sendEach(campaign, claimed, owner, sentAt, outcome, lost);
    return [...skips.map((s) => s.contactId), ...claimed.filter((c) => !lost.has(c.messageId)).map((c) => c.contactId)];
  }

  return {
    sendCampaignPage,
    async freezeCampaignAudience(req: {
      runId: string;
      campaign: CampaignDefinition;
      now: number;
      local?: LocalSend;
    }): Promise<{ recipients: number }> {
      const frozen = await freezeAudience(db, { ...req, defaultZone: defaultTimezone() });
      await setCampaignStatus(db, req.campaign.id, 'sending');
      return frozen;
    },
    /** A/B test: the winning variant, given to the rest of the audience. */
    async chooseCampaignWinner(req: {
      runId: string;
      campaign: CampaignDefinition;
    }): Promise<{ winner: string; rates: Record<string, number> }> {
      const test = req.campaign.abTest!;
      return chooseWinner(
        db,
        req.runId,
        test.variants.map((v) => v.id),
        test.winnerBy,
      );
    },
    async campaignRemaining(req: { runId: string }) {
      return remaining(db, req.runId);
    },
    async recordCampaignStatus(req: {
      campaignId: string;
      runId?: string;
      status: 'scheduled' | 'sending' | 'paused' | 'completed' | 'cancelled';
    }): Promise<void> {
      if (req.runId && req.status !== 'scheduled') await setRunStatus(db, req.runId, req.status);
      await setCampaignStatus(db, req.campaignId, req.status);
    },
    async nextCampaignOccurrence(req: {
      schedule: Extract<CampaignDefinition['schedule'], { type: 'recurring' }>;
      after: number;
    }): Promise<number> {
      return nextOccurrence(req.schedule, req.after);
    },
    /** A yearly moment campaign's next occurrence after `after`; null when the moment has no more dates. */
    /**
     * A yearly moment's next occurrence. `perZone` (patch `campaign-moment-per-zone`): the one
     * still ahead in some zone and after `since`, whose contacts past the hour wait for the next
     * run; without it, the former rule of the schedules already running (earliest zone).
     */
    async nextCampaignMoment(req: {
      schedule: MomentSchedule;
      after: number;
      perZone?: boolean;
      since?: string;
    }): Promise<MomentOccurrence | null> {
      const opts = req.perZone ? { since: req.since, thisRun: false } : { earliestZone: true };
      return momentOccurrence(req.schedule, req.after, opts) ?? null;
    },
  };
}

export type CampaignActivities = ReturnType<typeof createCampaignActivities>;
