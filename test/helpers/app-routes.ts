/** The routes an Express app answers, read from its router stack: `METHOD /mount/path/:param`. */
import type { Express } from 'express';

interface Layer {
  rawPath?: unknown;
  route?: { path: string | string[]; methods: Record<string, boolean> };
  handle: { stack?: Layer[] };
}

const paths = (raw: unknown): string[] => (Array.isArray(raw) ? raw.flat().map(String) : [String(raw)]);

export function appRoutes(app: Express): string[] {
  const routes: string[] = [];
  const walk = (stack: Layer[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const method of Object.keys(layer.route.methods).filter((m) => m !== '_all'))
          for (const path of paths(layer.route.path))
            routes.push(`${method.toUpperCase()} ${`${prefix}${path}`.replace(/(.)\/$/, '$1')}`);
      } else if (layer.handle.stack) {
        const mount = typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
        walk(layer.handle.stack, `${prefix}${mount}`);
      }
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack, '');
  return [...new Set(routes)];
}
