/** Reading and writing TOML config files, with errors that name the file and the key. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse, stringify } from 'smol-toml';
import type { z } from 'zod';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export function describeIssues(issues: z.core.$ZodIssue[]): string {
  return issues
    .map((i) => {
      const key = i.path.length ? i.path.join('.') : '(top level)';
      if (i.code === 'unrecognized_keys') {
        const keys = (i as { keys: string[] }).keys;
        return `unknown key${keys.length > 1 ? 's' : ''} ${keys.map((k) => (i.path.length ? `${key}.${k}` : k)).join(', ')}`;
      }
      return `${key}: ${i.message}`;
    })
    .join('; ');
}

export function validate<S extends z.ZodType>(schema: S, value: unknown, where: string): z.infer<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw new ConfigError(`${where}: ${describeIssues(r.error.issues)}`);
  return r.data;
}

export function loadToml<S extends z.ZodType>(file: string, schema: S): z.infer<S> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read ${file}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    throw new ConfigError(`${file}: not valid TOML: ${(err as Error).message.split('\n')[0]}`);
  }
  return validate(schema, raw, file);
}

/** Writes atomically (temp + rename) so a crash never leaves half a config. */
export function saveToml(file: string, value: Record<string, unknown>): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, `${stringify(value)}\n`, { mode: 0o600 });
  fs.renameSync(tmp, file);
}
