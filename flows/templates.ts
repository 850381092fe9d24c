/**
 * Message templates are LiquidJS. One engine configuration for validation (API) and
 * rendering (activities): missing variables render empty, unknown filters are errors.
 */
import { Liquid } from 'liquidjs';
import type { Step } from './schema';

export const liquid = new Liquid({ strictVariables: false, strictFilters: true, cache: 500 });

/** The template fields of each sending step, named as in the flow document. */
export function templateFields(step: Step): Record<string, string> {
  switch (step.type) {
    case 'email':
      return { subject: step.subject, html: step.html, ...(step.text === undefined ? {} : { text: step.text }) };
    case 'sms':
      return { body: step.body };
    default:
      return {};
  }
}

export interface TemplateContext {
  contact: Record<string, unknown>;
  event: Record<string, unknown>;
}

export async function renderFields(step: Step, context: TemplateContext): Promise<Record<string, string>> {
  const rendered: Record<string, string> = {};
  for (const [field, source] of Object.entries(templateFields(step))) {
    rendered[field] = await liquid.parseAndRender(source, context);
  }
  return rendered;
}
