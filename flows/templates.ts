/**
 * Message templates are LiquidJS. One engine configuration for validation (API) and
 * rendering (activities): missing variables render empty, unknown filters are errors.
 */
import { Liquid } from 'liquidjs';
import type { Step } from './schema';

export const liquid = new Liquid({ strictVariables: false, strictFilters: true, cache: 500 });

const defined = (fields: Record<string, string | undefined>): Record<string, string> =>
  Object.fromEntries(Object.entries(fields).filter((entry): entry is [string, string] => entry[1] !== undefined));

/** The template fields of each step, named as in the flow document. */
export function templateFields(step: Step): Record<string, string> {
  switch (step.type) {
    case 'email':
      return defined({ subject: step.subject, html: step.html, text: step.text });
    case 'sms':
      return { body: step.body };
    case 'push':
      return defined({ title: step.title, body: step.body, url: step.url, icon: step.icon });
    case 'webhook':
      return { body: step.body };
    case 'update_profile':
      return Object.fromEntries(Object.entries(step.set ?? {}).filter((e): e is [string, string] => typeof e[1] === 'string').map(([k, v]) => [`set.${k}`, v]));
    default:
      return {};
  }
}

export interface TemplateContext {
  contact: Record<string, unknown>;
  event: Record<string, unknown>;
  journey?: Record<string, unknown>;
  unsubscribe_url?: string;
}

export async function renderFields(step: Step, context: TemplateContext): Promise<Record<string, string>> {
  const rendered: Record<string, string> = {};
  for (const [field, source] of Object.entries(templateFields(step))) {
    rendered[field] = await liquid.parseAndRender(source, context);
  }
  return rendered;
}
