import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root (this file is dist/src/cli/paths.js). */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const DAEMON_BIN = path.join(PACKAGE_ROOT, 'bin', 'wormholed.cjs');
