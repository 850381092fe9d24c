/**
 * Validation at the edge: schema, step graph and template syntax, reported as
 * `{ path, message }` issues so a 400 can say exactly what is wrong and where.
 */
import { z } from 'zod';
import { checkStepGraph, type GraphIssue } from './graph';
import { flowInput } from './schema';
import { liquid, templateFields } from './templates';

export type Issue = GraphIssue;
export type ValidationResult<T> = { success: true; data: T } | { success: false; issues: Issue[] };

export function zodIssues(error: z.ZodError): Issue[] {
  return error.issues.map((issue) => ({ path: issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p)), message: issue.message }));
}

export function parseWith<S extends z.ZodType>(schema: S, input: unknown): ValidationResult<z.output<S>> {
  const parsed = schema.safeParse(input);
  return parsed.success ? { success: true, data: parsed.data } : { success: false, issues: zodIssues(parsed.error) };
}

export type ValidFlowInput = z.output<typeof flowInput>;

export function validateFlow(input: unknown): ValidationResult<ValidFlowInput> {
  const parsed = parseWith(flowInput, input);
  if (!parsed.success) return parsed;
  const issues = [...checkStepGraph(parsed.data.steps), ...templateIssues(parsed.data)];
  return issues.length > 0 ? { success: false, issues } : parsed;
}

function templateIssues(flow: ValidFlowInput): Issue[] {
  const issues: Issue[] = [];
  flow.steps.forEach((step, index) => {
    for (const [field, source] of Object.entries(templateFields(step))) {
      try {
        liquid.parse(source);
      } catch (err) {
        // LiquidJS messages carry "line:N, col:M"; keep them, they point into the template.
        issues.push({ path: ['steps', index, ...field.split('.')], message: `template error in step "${step.id}": ${(err as Error).message}` });
      }
    }
  });
  return issues;
}
