#!/usr/bin/env node
// make-files.mjs DIR N: creates N small files (100 per directory) under DIR, as fast as a user program can.
import * as fs from 'node:fs';
import * as path from 'node:path';

const [dir, nArg] = process.argv.slice(2);
const n = Number(nArg ?? 100000);
if (!dir || !Number.isInteger(n) || n < 0) {
  console.error('usage: make-files.mjs DIR N');
  process.exit(2);
}
const start = Date.now();
for (let i = 0; i < n; i++) {
  const sub = path.join(dir, `d${Math.floor(i / 100)}`);
  if (i % 100 === 0) fs.mkdirSync(sub, { recursive: true });
  fs.writeFileSync(path.join(sub, `f${i}`), `file ${i}\n`);
}
const s = (Date.now() - start) / 1000;
console.log(`made ${n} files in ${s.toFixed(1)} s (${Math.round(n / s)}/s)`);
