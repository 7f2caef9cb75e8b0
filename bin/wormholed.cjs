#!/usr/bin/env node
// CommonJS on purpose: this file loads synchronously, so the environment is
// set before libuv starts its thread pool. Reads of /dev/fuse block one pool
// thread each; the pool must be larger than the reads kept outstanding.
process.env.UV_THREADPOOL_SIZE = process.env.UV_THREADPOOL_SIZE || '32';
import('../dist/src/daemon/main.js');
