/**
 * `npm run build [-- --out DIR]`: the runtime file set of a deployment, as the Dockerfile
 * builds it. DIR (default `dist/`) receives:
 *   - every source file the production entry points reach, compiled to CommonJS one file per
 *     module (same layout as the source, so `__dirname`-relative paths keep working);
 *   - db/migrations/*.sql;
 *   - workflow-bundle.js: the journey workflow bundled once, loaded by the worker instead of
 *     running webpack at start (worker/create-worker.ts, prebuiltWorkflowBundle);
 *   - api/openapi/reference.js: the API reference page's script (api/openapi/router.ts).
 * Next to package.json and package-lock.json, installed with `npm ci --omit=dev`, that is all a
 * deployment runs. The build fails when production code needs a development dependency.
 */
import { builtinModules } from 'node:module';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { build, type Metafile } from 'esbuild';
import { z } from 'zod';
import { REFERENCE_SCRIPT, scalarStandaloneBundle } from '../api/openapi/reference-script';

const root = path.resolve(__dirname, '..');

/** What a deployment starts (`node dist/<entry>.js`). */
export const PRODUCTION_ENTRY_POINTS = [
  'api/server.ts',
  'worker/main.ts',
  'db/migrate-cli.ts',
  'scripts/health-probe.ts',
];

const packageJson = z.object({ dependencies: z.record(z.string(), z.string()) });

function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/** The project's own modules the entry points reach, and the packages they import statically. */
async function importGraph(): Promise<{ sources: string[]; packages: Set<string> }> {
  const result = await build({
    entryPoints: PRODUCTION_ENTRY_POINTS.map((entry) => path.join(root, entry)),
    absWorkingDir: root,
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'cjs',
    write: false,
    metafile: true,
    outdir: path.join(root, '.import-graph'),
    logLevel: 'error',
  });
  const metafile: Metafile = result.metafile;
  const sources = Object.keys(metafile.inputs).filter((input) => !input.startsWith('node_modules/'));
  const packages = new Set<string>();
  for (const input of Object.values(metafile.inputs)) {
    for (const imported of input.imports) {
      // Dynamic imports are the guarded development fallbacks (embedded Postgres): not needed at
      // run time. require.resolve('../workflows') is the worker's unbundled fallback.
      if (!imported.external || (imported.kind !== 'import-statement' && imported.kind !== 'require-call')) continue;
      // esbuild lists an import it dropped as unused (a value import used only as a type) as external, unresolved.
      if (imported.path.startsWith('.') || path.isAbsolute(imported.path)) continue;
      const name = imported.path.replace(/^node:/, '');
      if (!builtinModules.includes(name) && !builtinModules.includes(name.split('/')[0]!))
        packages.add(packageName(imported.path));
    }
  }
  return { sources, packages };
}

export async function buildRuntime(outDir: string): Promise<void> {
  const { sources, packages } = await importGraph();
  const { dependencies } = packageJson.parse(JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')));
  const missing = [...packages].filter((name) => !(name in dependencies));
  if (missing.length) {
    throw new Error(
      `production code imports ${missing.join(', ')}, which ${missing.length === 1 ? 'is not a dependency' : 'are not dependencies'} in package.json ("npm ci --omit=dev" would leave ${missing.length === 1 ? 'it' : 'them'} out)`,
    );
  }

  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  await build({
    entryPoints: sources.map((source) => path.join(root, source)),
    absWorkingDir: root,
    outbase: root,
    outdir: outDir,
    bundle: false,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    sourcemap: true,
    logLevel: 'error',
  });
  cpSync(path.join(root, 'db', 'migrations'), path.join(outDir, 'db', 'migrations'), { recursive: true });
  // Data files the modules require by name (calendar/data/fetes-fr.json): esbuild turns them into .js.
  for (const source of sources.filter((s) => s.endsWith('.json')))
    cpSync(path.join(root, source), path.join(outDir, source));

  // The API reference page's script, from a development dependency: one file instead of Scalar's
  // dependency tree in every deployment (api/openapi/router.ts serves it).
  cpSync(scalarStandaloneBundle(), path.join(outDir, 'api', 'openapi', REFERENCE_SCRIPT));

  const bundle = await bundleWorkflowCode({ workflowsPath: path.join(root, 'workflows', 'index.ts') });
  writeFileSync(path.join(outDir, 'workflow-bundle.js'), bundle.code);
  process.stdout.write(
    `built ${sources.length} modules, the migrations and the workflow bundle into ${path.relative(process.cwd(), outDir) || '.'}\n`,
  );
}

function outDirFromArgs(argv: string[]): string {
  const at = argv.indexOf('--out');
  return path.resolve(at >= 0 && argv[at + 1] ? argv[at + 1]! : path.join(root, 'dist'));
}

if (require.main === module) {
  buildRuntime(outDirFromArgs(process.argv.slice(2))).catch((err: Error) => {
    process.stderr.write(`build failed: ${err.message}\n`);
    process.exit(1);
  });
}
