import { type Logger, pino } from 'pino';

export type { Logger };

/** The root logger: JSON lines to a file descriptor or stderr; components take child loggers. */
export function createLogger(opts: { level?: string; destination?: string | number } = {}): Logger {
  const level = opts.level ?? process.env.WORMHOLE_LOG ?? 'info';
  const dest = pino.destination({ dest: opts.destination ?? 2, sync: true, mkdir: true });
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, dest);
}

/** A logger that drops everything, for library code used without a daemon. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
