import path from 'node:path';

/** The project's folder (where package.json is), for .data and .tools. */
export const projectRoot = path.resolve(__dirname, '..');
