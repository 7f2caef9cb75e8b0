#!/usr/bin/env node
// Runs the compiled tests with node:test. `unit` = tests next to the code
// (dist/src/**/*.test.js), run in parallel; `e2e` = dist/test/e2e/*.test.js,
// which start real daemons and mounts, run a few at a time. No argument: both.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const which = process.argv[2] ?? 'all';
const filter = process.argv[3];

function find(dir, out = []) {
  if (!fs.existsSync(dir)) return out;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) find(p, out);
    else if (e.name.endsWith('.test.js') && (!filter || p.includes(filter))) out.push(p);
  }
  return out.sort();
}

function run(files, concurrency) {
  if (files.length === 0) return 0;
  const r = spawnSync(
    process.execPath,
    ['--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files],
    {
      stdio: 'inherit',
      cwd: root,
    },
  );
  return r.status ?? 1;
}

let status = 0;
if (which === 'all' || which === 'unit') status ||= run(find(path.join(root, 'dist/src')), 2);
if (which === 'all' || which === 'e2e')
  status ||= run(find(path.join(root, 'dist/test/e2e')), Number(process.env.E2E_CONCURRENCY ?? 2));
process.exit(status);
