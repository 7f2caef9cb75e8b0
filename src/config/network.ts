/**
 * Network settings: replicated to every pod (`wormhole network set`), each
 * a string in the network state, checked here when set and read with its
 * default when absent.
 */
import { UsageError } from '../core/errors.js';
import { parseDuration } from './units.js';

export const HEALTH_STATES = ['favorable', 'mitigated', 'grave'] as const;
export type HealthState = (typeof HEALTH_STATES)[number];
export const REACTIONS = ['rebuild', 'read-only', 'cut'] as const;
export type Reaction = (typeof REACTIONS)[number];

export interface NetworkSettings {
  conflict: 'newest' | 'copy';
  /** Replicas of each chunk. */
  redundancy: number;
  /** How long a silent pod is waited for before its chunks are rebuilt elsewhere (ms). */
  graceMs: number;
  reactions: Record<HealthState, Reaction[]>;
}

export const MAX_REDUNDANCY = 16;

export const DEFAULTS: Record<string, string> = {
  conflict: 'copy',
  redundancy: '2',
  grace: '10m',
  'reaction.favorable': 'rebuild',
  'reaction.mitigated': 'rebuild',
  'reaction.grave': 'rebuild',
};

export const SETTING_KEYS = Object.keys(DEFAULTS);

export function parseRedundancy(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n < 1 || n > MAX_REDUNDANCY)
    throw new UsageError(
      `invalid redundancy ${JSON.stringify(value)} (expected a whole number from 1 to ${MAX_REDUNDANCY})`,
    );
  return n;
}

function parseReactions(key: string, value: string): Reaction[] {
  const parts = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = parts.find((p) => !(REACTIONS as readonly string[]).includes(p));
  if (bad !== undefined || parts.length === 0)
    throw new UsageError(
      `invalid ${key} ${JSON.stringify(value)} (expected a comma-separated list of ${REACTIONS.join(', ')})`,
    );
  if (parts.includes('cut') && parts.includes('read-only'))
    throw new UsageError(`invalid ${key}: cut and read-only exclude each other`);
  return [...new Set(parts)] as Reaction[];
}

/** Checks a setting and returns it as stored; throws a UsageError naming the key. */
export function normalizeSetting(key: string, value: string): string {
  switch (key) {
    case 'conflict':
      if (value !== 'newest' && value !== 'copy')
        throw new UsageError(`invalid conflict ${JSON.stringify(value)} (expected newest or copy)`);
      return value;
    case 'redundancy':
      return String(parseRedundancy(value));
    case 'grace': {
      const ms = parseDuration(value);
      if (ms === undefined || ms < 0)
        throw new UsageError(`invalid grace ${JSON.stringify(value)} (expected a duration, e.g. 10m, 30s, 1h)`);
      return value.trim();
    }
    case 'reaction.favorable':
    case 'reaction.mitigated':
    case 'reaction.grave':
      return parseReactions(key, value).join(',');
    default:
      throw new UsageError(`unknown network setting ${JSON.stringify(key)} (known: ${SETTING_KEYS.join(', ')})`);
  }
}

/** The settings from the stored strings; one that does not parse falls back to its default. */
export function readSettings(get: (key: string) => string | undefined): NetworkSettings {
  const value = (key: string): string => {
    const v = get(key);
    if (v === undefined) return DEFAULTS[key] as string;
    try {
      return normalizeSetting(key, v);
    } catch {
      return DEFAULTS[key] as string;
    }
  };
  return {
    conflict: value('conflict') as 'newest' | 'copy',
    redundancy: Number(value('redundancy')),
    graceMs: parseDuration(value('grace')) as number,
    reactions: {
      favorable: value('reaction.favorable').split(',') as Reaction[],
      mitigated: value('reaction.mitigated').split(',') as Reaction[],
      grave: value('reaction.grave').split(',') as Reaction[],
    },
  };
}

/** Every setting as stored (or its default), for display. */
export function describeSettings(get: (key: string) => string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of SETTING_KEYS) {
    const v = get(key);
    let shown = DEFAULTS[key] as string;
    if (v !== undefined) {
      try {
        shown = normalizeSetting(key, v);
      } catch {
        // an unreadable stored value shows its default, as it acts
      }
    }
    out[key] = shown;
  }
  return out;
}
