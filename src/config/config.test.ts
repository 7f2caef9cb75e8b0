import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../core/testing.js';
import { ConfigError, loadToml, saveToml, validate } from './load.js';
import { DaemonConfig, PodConfig } from './schema.js';
import { formatBytes, parseDuration, parseSize } from './units.js';

const KiB = 1024;
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

test('parseSize reads bytes, SI and binary units, any case', () => {
  const cases: Array<[string | number, number]> = [
    ['256MiB', 256 * MiB],
    ['256mib', 256 * MiB],
    ['2GiB', 2 * GiB],
    ['1G', 1e9],
    ['1GB', 1e9],
    ['10k', 10_000],
    ['4KiB', 4 * KiB],
    ['1.5KiB', 1536],
    ['1TiB', 1024 ** 4],
    ['3t', 3e12],
    ['4096', 4096],
    ['100B', 100],
    [' 2 GiB ', 2 * GiB],
    ['0', 0],
    [4096, 4096],
    [0, 0],
  ];
  for (const [input, want] of cases) assert.equal(parseSize(input), want, JSON.stringify(input));
});

test('parseSize refuses what is not a size', () => {
  for (const input of ['', 'abc', '-1', '-1MiB', '12XB', '1e3', 'MiB', '1 2MiB', '1..5k', '99999999999TiB']) {
    assert.equal(parseSize(input), undefined, JSON.stringify(input));
  }
  for (const input of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 60]) {
    assert.equal(parseSize(input), undefined, String(input));
  }
});

test('parseDuration reads milliseconds; a bare number is seconds', () => {
  const cases: Array<[string | number, number]> = [
    ['500ms', 500],
    ['30s', 30_000],
    ['10m', 600_000],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
    ['1.5s', 1500],
    ['30', 30_000],
    [' 10 m ', 600_000],
    [30, 30_000],
    [0, 0],
    [0.5, 500],
  ];
  for (const [input, want] of cases) assert.equal(parseDuration(input), want, JSON.stringify(input));
});

test('parseDuration refuses what is not a duration', () => {
  for (const input of ['', 'soon', '10x', '-5s', '5 minutes', 'ms', '10MS']) {
    assert.equal(parseDuration(input), undefined, JSON.stringify(input));
  }
  for (const input of [-1, Number.NaN, Number.POSITIVE_INFINITY]) assert.equal(parseDuration(input), undefined);
});

test('formatBytes uses binary units with one decimal', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(1023), '1023 B');
  assert.equal(formatBytes(1024), '1.0 KiB');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(256 * MiB), '256.0 MiB');
  assert.equal(formatBytes(3 * GiB + 512 * MiB), '3.5 GiB');
  assert.equal(formatBytes(2048 * 1024 ** 4), '2048.0 TiB');
});

test('PodConfig fills defaults and converts sizes and durations', () => {
  const c = validate(PodConfig, { network: 'home', name: 'pod-1', data: '/var/lib/w' }, 'test');
  assert.deepEqual(c, {
    network: 'home',
    name: 'pod-1',
    data: '/var/lib/w',
    network_horizon: 7 * 24 * 3600_000,
    role: 'storage',
    zone: 'default',
    affinity: 1,
    cache: { ram: 256 * MiB },
    metadata: { commit_interval: 10 },
    fuse: { entry_timeout: 30_000, attr_timeout: 30_000, poll_window: 2 },
  });
  const d = validate(
    PodConfig,
    {
      network: 'home',
      name: 'p',
      data: '/d',
      mount: '/mnt/w',
      cache: { ram: '1GiB' },
      metadata: { commit_interval: '0ms' },
      fuse: { entry_timeout: 1, attr_timeout: '250ms' },
    },
    'test',
  );
  assert.deepEqual(
    [d.mount, d.cache.ram, d.metadata.commit_interval, d.fuse.entry_timeout, d.fuse.attr_timeout],
    ['/mnt/w', GiB, 0, 1000, 250],
  );
});

test('validate() names the place and the key of every problem', () => {
  const bad = (value: unknown) => {
    try {
      validate(PodConfig, value, 'WHERE');
    } catch (err) {
      assert.equal((err as Error).name, 'ConfigError');
      assert.ok(err instanceof ConfigError);
      assert.ok(err.message.startsWith('WHERE: '), err.message);
      return err.message;
    }
    assert.fail('accepted');
  };
  const base = { network: 'home', name: 'p', data: '/d' };
  assert.match(bad({ ...base, colour: 'blue' }), /unknown key colour/);
  assert.match(bad({ ...base, cache: { ram: 1, disc: 2 } }), /unknown key cache\.disc/);
  assert.match(bad({ ...base, role: 'server' }), /role: /);
  assert.match(bad({ ...base, capacity: '-1' }), /capacity: invalid size/);
  assert.match(bad({ ...base, affinity: -1 }), /affinity: /);
  assert.match(bad({ ...base, zone: 'a zone' }), /zone: must be/);
  assert.match(bad({ ...base, cache: { ram: 'lots' } }), /cache\.ram: invalid size "lots"/);
  assert.match(bad({ ...base, fuse: { attr_timeout: '5 minutes' } }), /fuse\.attr_timeout: invalid duration/);
  assert.match(bad({ ...base, name: '-pod' }), /name: must be 1-63 letters/);
  assert.match(bad({ ...base, name: 'a'.repeat(64) }), /name: /);
  assert.match(bad({ name: 'p', data: '/d' }), /network: /);
  assert.match(bad({ ...base, data: '' }), /data: /);
  assert.match(validate(DaemonConfig, {}, 'x').log_level, /^info$/);
  assert.throws(() => validate(DaemonConfig, { log_level: 'loud' }, 'x'), {
    name: 'ConfigError',
    message: /log_level/,
  });
});

test('loadToml: an unknown key is a ConfigError naming the file and the key', (t) => {
  const file = path.join(tempDir(t, 'wormhole-config-'), 'pod.toml');
  fs.writeFileSync(
    file,
    'network = "home"\nname = "p"\ndata = "/d"\nredundancy = 3\n\n[cache]\nram = "1GiB"\nsize = 2\n',
  );
  assert.throws(
    () => loadToml(file, PodConfig),
    (err: Error) => {
      assert.equal(err.name, 'ConfigError');
      assert.ok(err.message.includes(file), err.message);
      assert.match(err.message, /\bredundancy\b/);
      assert.match(err.message, /\bcache\.size\b/);
      return true;
    },
  );
});

test('loadToml: invalid TOML is a ConfigError naming the file', (t) => {
  const file = path.join(tempDir(t, 'wormhole-config-'), 'pod.toml');
  fs.writeFileSync(file, 'network = "home\nname = p\n');
  assert.throws(
    () => loadToml(file, PodConfig),
    (err: Error) => {
      assert.equal(err.name, 'ConfigError');
      assert.ok(err.message.includes(file), err.message);
      assert.match(err.message, /not valid TOML/);
      assert.ok(!err.message.includes('\n'), 'one line');
      return true;
    },
  );
});

test('loadToml: a missing file is a ConfigError naming it', (t) => {
  const file = path.join(tempDir(t, 'wormhole-config-'), 'absent.toml');
  assert.throws(() => loadToml(file, PodConfig), { name: 'ConfigError', message: new RegExp(`cannot read ${file}`) });
});

test('saveToml writes atomically what loadToml reads back', (t) => {
  const dir = tempDir(t, 'wormhole-config-');
  const file = path.join(dir, 'sub', 'pod.toml');
  const value = { network: 'home', name: 'p', data: '/d', cache: { ram: '2GiB' }, fuse: { attr_timeout: '1s' } };
  saveToml(file, value);
  assert.deepEqual(fs.readdirSync(path.dirname(file)), ['pod.toml']);
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  const c = loadToml(file, PodConfig);
  assert.deepEqual(
    [c.network, c.cache.ram, c.fuse.attr_timeout, c.fuse.entry_timeout],
    ['home', 2 * GiB, 1000, 30_000],
  );
});
