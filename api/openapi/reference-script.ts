/**
 * Where the reference page's script comes from: @scalar/api-reference's standalone bundle, one
 * file. The package is a development dependency (its tree holds Vue, TypeScript and esbuild);
 * the build copies the file next to the router as REFERENCE_SCRIPT.
 */
import path from 'node:path';

export const REFERENCE_SCRIPT = 'reference.js';

/** The bundle in node_modules; throws when the package is not installed. */
export function scalarStandaloneBundle(): string {
  // The package exports no path to its browser bundle: it sits beside the main entry (dist/index.js).
  return path.join(path.dirname(require.resolve('@scalar/api-reference')), 'browser', 'standalone.js');
}
