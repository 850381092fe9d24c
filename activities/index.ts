/**
 * Activities: all I/O of a journey. Built from their dependencies so the worker, tests and
 * benchmarks wire real providers, fakes' URLs or the outbox without touching the workflow.
 */
import { recordJourneyEnd as writeJourneyEnd } from '../db/journeys';
import type { Queryable } from '../db/pool';
import type { StepOf } from '../flows/schema';
import type { JourneyExit, JourneyState } from '../workflows/messages';
import type { EmailProvider, OutgoingEmail, OutgoingSms, SmsProvider } from './providers/types';
import { sendMessage, type ChannelSender, type JourneyRef, type SendOutcome, type SendRequest } from './send-message';

export interface ActivityDeps {
  db: Queryable;
  email: EmailProvider;
  sms: SmsProvider;
  /** Sender address for email steps that do not name one. */
  emailFrom: string;
}

export interface JourneyEnd {
  journey: JourneyRef;
  status: Exclude<JourneyState['status'], 'running'>;
  exit: JourneyExit | null;
  currentStep: string | null;
}

export function createActivities(deps: ActivityDeps) {
  const emailSender: ChannelSender<StepOf<'email'>, OutgoingEmail> = {
    channel: 'email',
    provider: deps.email,
    addressOf: (contact) => contact.email,
    compose: (r, to, step, customArgs) => ({ to, from: step.from ?? deps.emailFrom, subject: r.subject, html: r.html, text: r.text, customArgs }),
  };
  const smsSender: ChannelSender<StepOf<'sms'>, OutgoingSms> = {
    channel: 'sms',
    provider: deps.sms,
    addressOf: (contact) => contact.phone,
    compose: (r, to) => ({ to, body: r.body }),
  };

  return {
    async sendEmail(req: SendRequest<StepOf<'email'>>): Promise<SendOutcome> {
      return sendMessage(deps.db, emailSender, req);
    },
    async sendSms(req: SendRequest<StepOf<'sms'>>): Promise<SendOutcome> {
      return sendMessage(deps.db, smsSender, req);
    },
    async recordJourneyEnd(end: JourneyEnd): Promise<void> {
      const { journey } = end;
      await writeJourneyEnd(deps.db, {
        ...journey,
        status: end.status,
        exitReason: end.exit?.reason ?? null,
        exitDetail: end.exit,
        currentStep: end.currentStep,
      });
    },
  };
}

export type JourneyActivities = ReturnType<typeof createActivities>;
