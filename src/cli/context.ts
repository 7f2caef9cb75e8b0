/** What every command gets: where the daemon lives, and error handling with clear messages. */
import * as path from 'node:path';
import { errorMessage } from '../core/errors.js';
import { defaultHome, Home } from '../daemon/home.js';
import type { Client } from './client.js';

export class Context {
  homeDir: string | undefined;

  get home(): Home {
    return new Home(path.resolve(this.homeDir ?? defaultHome()));
  }

  client(): Client {
    const h = this.home;
    return { home: h.dir, socket: h.socket };
  }

  say(line: string): void {
    process.stdout.write(`${line}\n`);
  }

  /** Runs a command; any failure becomes one line on stderr and exit code 1. */
  async run(fn: () => Promise<void> | void): Promise<void> {
    try {
      await fn();
    } catch (err) {
      process.stderr.write(`wormhole: ${errorMessage(err)}\n`);
      process.exitCode = 1;
    }
  }
}
