/**
 * The top folders form layers: no folder imports, even for a type, a folder that imports it back, counting
 * subfolders in their top folder (api/contacts/ is api/). `npm run deps` (no-folder-cycles) checks each folder on
 * its own, so a cycle through a subfolder (db/ -> activities/providers/ while activities/ -> db/) escapes it; this
 * test sees it. Layers: docs/architecture.md, "Folder layers".
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.join(__dirname, '..');
const NOT_APP = new Set(['node_modules', 'dist', 'test', 'bench', 'docs', '.tools', '.data', '.git']);
/** Entry points call the composition root (stack/compose.ts), above every folder; .dependency-cruiser.cjs skips them. */
const ENTRY_POINTS = new Set(['api/server.ts', 'worker/main.ts']);

function tsFiles(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir)).flatMap((name) => {
    const rel = dir ? `${dir}/${name}` : name;
    if (statSync(path.join(ROOT, rel)).isDirectory()) return dir || !NOT_APP.has(name) ? tsFiles(rel) : [];
    return dir && name.endsWith('.ts') && !name.endsWith('.d.ts') ? [rel] : [];
  });
}

/** Every relative module a file imports or re-exports, type-only ones included. */
function importsOf(file: string): string[] {
  const text = readFileSync(path.join(ROOT, file), 'utf8');
  const specifiers = [
    ...text.matchAll(/\bfrom\s+'(\.{1,2}\/[^']+)'/g),
    ...text.matchAll(/^import\s+'(\.{1,2}\/[^']+)'/gm),
  ];
  return specifiers.flatMap((m) => {
    const base = path.posix.normalize(path.posix.join(path.posix.dirname(file), m[1]));
    const found = [`${base}.ts`, `${base}/index.ts`].find((f) => existsSync(path.join(ROOT, f)));
    return found ? [found] : [];
  });
}

const topFolder = (file: string) => file.split('/')[0];

/** Folder -> folder it imports -> one import that shows it. */
function folderGraph(): Map<string, Map<string, string>> {
  const graph = new Map<string, Map<string, string>>();
  for (const file of tsFiles('').filter((f) => !ENTRY_POINTS.has(f)))
    for (const target of importsOf(file)) {
      const [from, to] = [topFolder(file), topFolder(target)];
      if (from === to) continue;
      if (!graph.has(from)) graph.set(from, new Map());
      graph.get(from)?.set(to, `${file} imports ${target}`);
    }
  return graph;
}

/** One cycle of the graph (each step with the import that shows it), or none. */
function findCycle(graph: Map<string, Map<string, string>>): string[] | undefined {
  const done = new Set<string>();
  const visit = (folder: string, trail: string[]): string[] | undefined => {
    const at = trail.indexOf(folder);
    if (at >= 0) {
      const loop = [...trail.slice(at), folder];
      return loop.slice(1).map((to, i) => `${loop[i]} -> ${to} (${graph.get(loop[i])?.get(to)})`);
    }
    if (done.has(folder)) return undefined;
    for (const next of graph.get(folder)?.keys() ?? []) {
      const cycle = visit(next, [...trail, folder]);
      if (cycle) return cycle;
    }
    done.add(folder);
    return undefined;
  };
  for (const folder of graph.keys()) {
    const cycle = visit(folder, []);
    if (cycle) return cycle;
  }
  return undefined;
}

test('top folders import one another in one direction only (no cycle, subfolders counted in their top folder)', () => {
  expect(findCycle(folderGraph())).toBeUndefined();
});

test('the check sees a cycle through a subfolder and names the imports that make it', () => {
  const graph = new Map([
    ['db', new Map([['activities', 'db/push-subscriptions.ts imports activities/providers/types.ts']])],
    ['activities', new Map([['db', 'activities/index.ts imports db/contacts.ts']])],
  ]);
  expect(findCycle(graph)).toEqual([
    'db -> activities (db/push-subscriptions.ts imports activities/providers/types.ts)',
    'activities -> db (activities/index.ts imports db/contacts.ts)',
  ]);
});

test('the graph is read from the code: the router imports the repositories', () => {
  expect(folderGraph().get('routing')?.has('db')).toBe(true);
  expect(folderGraph().get('db')?.has('routing')).toBeFalsy();
});
