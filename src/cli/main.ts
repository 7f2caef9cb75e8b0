/** wormhole: the command-line interface. Talks to the local daemon; see docs/CLI.md. */
import { Command, CommanderError } from 'commander';
import { VERSION } from '../daemon/daemon.js';
import * as daemon from './commands/daemon.js';
import * as files from './commands/files.js';
import * as network from './commands/network.js';
import * as pod from './commands/pod.js';
import * as status from './commands/status.js';
import { Context } from './context.js';

export function buildProgram(ctx: Context): Command {
  const program = new Command('wormhole')
    .description('Wormhole: a folder shared by a network of pods')
    .version(VERSION)
    .option('--home <dir>', "the daemon's state directory (default: $WORMHOLE_HOME, or /var/lib/wormhole as root)")
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .hook('preAction', (cmd) => {
      ctx.homeDir = cmd.opts<{ home?: string }>().home;
    });
  daemon.register(program, ctx);
  network.register(program, ctx);
  pod.register(program, ctx);
  status.register(program, ctx);
  files.register(program, ctx);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const ctx = new Context();
  const program = buildProgram(ctx);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    process.stderr.write(`wormhole: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}
