/**
 * Message templates are LiquidJS. One engine configuration for validation (API) and
 * rendering (activities): missing variables render empty, unknown filters are errors.
 *
 * Templates are written by shop staff but render data from anyone (a contact's own traits,
 * event properties from a browser), so:
 * - no file system: `include`, `render` and `layout` are refused when a flow is saved, and the
 *   engines look partials up in an empty in-memory map, never on disk (the app folder holds
 *   package.json, .git and the data folder with secrets);
 * - bounded work: template length, render time and allocations are capped, and so is the
 *   rendered size, so a 60-byte nested loop cannot freeze the API or the worker;
 * - HTML fields escape every `{{ output }}` by default (a contact named `<script>` gets
 *   `&lt;script&gt;`); `{{ value | raw }}` is the author's explicit way to output HTML.
 */
import { filters, Liquid, type LiquidOptions } from 'liquidjs';
import type { Step } from './schema';

/** Characters of one template; a whole email design fits easily. */
export const MAX_TEMPLATE_CHARS = 200_000;
/** Milliseconds of rendering for one field. */
export const RENDER_TIME_LIMIT_MS = 1_000;
/** Characters allocated by filters and loops while rendering one field (LiquidJS memoryLimit). */
export const RENDER_MEMORY_LIMIT = 10_000_000;
/** Characters of one rendered field (SendGrid allows far more; no real message needs it). */
export const MAX_RENDERED_CHARS = 1_000_000;

const FILE_TAGS = ['include', 'render', 'layout'];

function engine(options: LiquidOptions): Liquid {
  const created = new Liquid({
    strictVariables: false,
    strictFilters: true,
    cache: 500,
    // An empty in-memory map: partial lookups never reach the file system.
    templates: {},
    parseLimit: MAX_TEMPLATE_CHARS,
    renderLimit: RENDER_TIME_LIMIT_MS,
    memoryLimit: RENDER_MEMORY_LIMIT,
    ...options,
  });
  for (const name of FILE_TAGS) {
    created.registerTag(name, {
      parse() {
        throw new Error(`{% ${name} %} is not available: templates cannot read files or other templates`);
      },
      render() {
        return '';
      },
    });
  }
  return created;
}

/** Plain-text fields (subjects, SMS, push, webhook JSON, profile values): output as rendered. */
export const liquid = engine({});

/**
 * HTML fields: output escaped by default. `escape` and `escape_once` are marked raw here so
 * flows written before escaping was the default (`{{ name | escape }}`) are not escaped twice.
 */
export const htmlLiquid = engine({ outputEscape: 'escape' });
for (const name of ['escape', 'escape_once']) {
  const builtin = filters[name];
  htmlLiquid.registerFilter(name, { handler: typeof builtin === 'function' ? builtin : builtin.handler, raw: true });
}

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
      return Object.fromEntries(
        Object.entries(step.set ?? {})
          .filter((e): e is [string, string] => typeof e[1] === 'string')
          .map(([k, v]) => [`set.${k}`, v]),
      );
    default:
      return {};
  }
}

/** The engine a field renders with: HTML-escaping for an email's `html`, plain for the rest. */
export const engineFor = (step: Step, field: string): Liquid =>
  step.type === 'email' && field === 'html' ? htmlLiquid : liquid;

export interface TemplateContext {
  contact: Record<string, unknown>;
  event: Record<string, unknown>;
  journey?: Record<string, unknown>;
  unsubscribe_url?: string;
}

/** Renders one template within the limits above; throws when a limit is passed. */
export async function renderTemplate(engine: Liquid, source: string, context: object): Promise<string> {
  const output = await engine.parseAndRender(source, context);
  if (output.length > MAX_RENDERED_CHARS)
    throw new Error(`rendered output is larger than ${MAX_RENDERED_CHARS} characters`);
  return output;
}

export async function renderFields(step: Step, context: TemplateContext): Promise<Record<string, string>> {
  const rendered: Record<string, string> = {};
  for (const [field, source] of Object.entries(templateFields(step))) {
    rendered[field] = await renderTemplate(engineFor(step, field), source, context);
  }
  return rendered;
}
