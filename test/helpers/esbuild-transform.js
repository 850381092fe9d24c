/**
 * Jest transform: TypeScript to CommonJS with esbuild (no type-check here; `npm test` runs
 * `tsc --noEmit` first). esbuild is what tsx already uses to run the project.
 */
const { transformSync } = require('esbuild');

module.exports = {
  process(source, filename) {
    const { code, map } = transformSync(source, {
      loader: 'ts',
      format: 'cjs',
      target: 'node20',
      sourcemap: 'external',
      sourcefile: filename,
    });
    return { code, map };
  },
};
