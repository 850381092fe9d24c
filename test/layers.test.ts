/**
 * The layer rules dependency-cruiser cannot check without the TypeScript JS API (the native TypeScript 7 compiler has
 * none): what the workflow bundle may reach, where the environment is read, where SQL is written. Folder and module
 * cycles are checked by `npm run deps` (.dependency-cruiser.cjs), also part of `npm test`.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.join(__dirname, '..');
const APP_FOLDERS = [
  'activities',
  'api',
  'audiences',
  'calendar',
  'catalog',
  'campaigns',
  'connectors',
  'db',
  'engagement',
  'flows',
  'locales',
  'metrics',
  'routing',
  'runtime',
  'sending',
  'services',
  'stack',
  'worker',
  'workflows',
];

function tsFiles(folder: string): string[] {
  const dir = path.join(ROOT, folder);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return tsFiles(path.join(folder, name));
    return name.endsWith('.ts') ? [path.join(folder, name)] : [];
  });
}

const appFiles = APP_FOLDERS.flatMap(tsFiles);
const source = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');

/** Imports that exist at run time (not `import type`), with their specifier. */
function runtimeImports(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/^(import|export)\s+(?!type\s)([\s\S]*?)\s+from\s+'([^']+)';/gm)) {
    // `import { type A, type B } from` is type-only as well.
    const names = m[2]
      .replace(/[{}]/g, '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (m[2].includes('{') && names.every((n) => n.startsWith('type '))) continue;
    found.push(m[3]);
  }
  for (const m of text.matchAll(/^import\s+'([^']+)';/gm)) found.push(m[1]);
  return found;
}

function resolveLocal(from: string, specifier: string): string | undefined {
  const base = path.normalize(path.join(path.dirname(from), specifier));
  for (const candidate of [`${base}.ts`, path.join(base, 'index.ts')])
    if (existsSync(path.join(ROOT, candidate))) return candidate;
  return undefined;
}

test('the workflow bundle reaches only deterministic modules: no I/O folder, no Node built-in', () => {
  const IO = /^(activities|api|connectors|db|engagement|metrics|routing|runtime|stack|worker)\//;
  const seen = new Set<string>();
  const problems: string[] = [];
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    if (IO.test(file)) problems.push(`${file} (an I/O module) is in the workflow bundle`);
    for (const specifier of runtimeImports(source(file))) {
      if (specifier.startsWith('node:')) problems.push(`${file} imports ${specifier}`);
      if (!specifier.startsWith('.')) continue;
      const target = resolveLocal(file, specifier);
      if (target) visit(target);
    }
  };
  visit('workflows/index.ts');
  expect(seen.size).toBeGreaterThan(10);
  expect(problems).toEqual([]);
});

test('the environment is read in runtime/env.ts only', () => {
  const readers = appFiles.filter((f) => f !== path.join('runtime', 'env.ts') && /process\.env\b/.test(source(f)));
  // A comment may name it; code may not.
  const reading = readers.filter((f) =>
    source(f)
      .split('\n')
      .some((line) => /process\.env\b/.test(line) && !/^\s*(\/\/|\*)/.test(line)),
  );
  expect(reading).toEqual([]);
});

test('SQL is sent from db/ only', () => {
  const withSql = appFiles
    .filter((f) => !f.startsWith(`db${path.sep}`))
    // A Temporal workflow query (`handle.query(journeyStateQuery)`, a definition from a messages module) is no SQL.
    .filter((f) => /\.query(<[^>]*>)?\((?!\w+Query\))/.test(source(f)))
    .sort();
  expect(withSql).toEqual([]);
});

test('every line of TypeScript fits in 120 characters, except long strings the formatter cannot wrap', () => {
  // Biome wraps code at 120; what it leaves longer is strings and SQL. Count them so the number only goes down.
  const long = appFiles.flatMap((f) =>
    source(f)
      .split('\n')
      .map((line, i) => ({ f, i, line }))
      .filter(({ line }) => line.length > 120),
  );
  expect(long.length).toBeLessThanOrEqual(LONG_LINES_LEFT);
});

/** Lines over 120 characters left in the app's code (mostly SQL in db/), to bring down to 0: it may only shrink. */
const LONG_LINES_LEFT = 141;
