/** The layout of a daemon's home directory. */
import * as os from 'node:os';
import * as path from 'node:path';

export function defaultHome(): string {
  if (process.env.WORMHOLE_HOME) return path.resolve(process.env.WORMHOLE_HOME);
  return process.getuid?.() === 0 ? '/var/lib/wormhole' : path.join(os.homedir(), '.wormhole');
}

export class Home {
  constructor(readonly dir: string) {}
  get socket(): string {
    return path.join(this.dir, 'wormholed.sock');
  }
  get pidFile(): string {
    return path.join(this.dir, 'wormholed.pid');
  }
  get logFile(): string {
    return path.join(this.dir, 'wormholed.log');
  }
  get configFile(): string {
    return path.join(this.dir, 'wormhole.toml');
  }
  get podsDir(): string {
    return path.join(this.dir, 'pods');
  }
  podDir(network: string): string {
    return path.join(this.podsDir, network);
  }
  podConfig(network: string): string {
    return path.join(this.podDir(network), 'pod.toml');
  }
}
