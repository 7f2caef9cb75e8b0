/**
 * wormholed: the daemon. Runs in the foreground (`wormhole daemon start`
 * detaches it); logs JSON lines to its home's wormholed.log; stops cleanly,
 * unmounting every pod, on SIGINT or SIGTERM.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { Command, CommanderError } from 'commander';
import { errorMessage } from '../core/errors.js';
import { createLogger } from '../core/log.js';
import { Daemon, VERSION } from './daemon.js';
import { defaultHome, Home } from './home.js';

function socketAnswers(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(socket);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

async function main(): Promise<void> {
  const program = new Command('wormholed')
    .description('The Wormhole daemon: hosts pods, mounts their folders, serves the wormhole CLI')
    .version(VERSION)
    .option('--home <dir>', 'state directory (default: $WORMHOLE_HOME, /var/lib/wormhole as root)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug or trace')
    .option('--log-stderr', 'log to stderr instead of <home>/wormholed.log')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  try {
    program.parse(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) process.exit(err.exitCode);
    throw err;
  }
  const opts = program.opts<{ home?: string; logLevel?: string; logStderr?: boolean }>();
  const home = new Home(path.resolve(opts.home ?? defaultHome()));
  fs.mkdirSync(home.dir, { recursive: true, mode: 0o700 });
  if (await socketAnswers(home.socket)) {
    process.stderr.write(`wormholed: a daemon is already running with home ${home.dir}\n`);
    process.exit(1);
  }
  const config = Daemon.loadConfig(home);
  const log = createLogger({
    level: opts.logLevel ?? config.log_level,
    destination: opts.logStderr ? 2 : home.logFile,
  });
  process.on('uncaughtException', (err) => log.error({ err }, 'uncaught exception'));
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection'));
  const daemon = new Daemon(home, log);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => void daemon.stop());
  process.on('SIGHUP', () => {});
  await daemon.start();
  await daemon.done;
  process.exit(0);
}

main().catch((err) => {
  process.stderr.write(`wormholed: ${errorMessage(err)}\n`);
  process.exit(1);
});
