/**
 * A pod's credentials in the network: the network's certificate authority
 * (every member holds its key, so any member can admit new pods) and the
 * pod's own key and certificate. Kept as PEM files, readable by root only.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { PodIdentity } from '../net/index.js';

export interface StoredIdentity extends PodIdentity {
  caKey: string;
}

const FILES = { ca: 'ca.crt', caKey: 'ca.key', cert: 'pod.crt', key: 'pod.key' } as const;

export function identityDir(data: string): string {
  return path.join(data, 'identity');
}

export function saveIdentity(data: string, id: StoredIdentity): void {
  const dir = identityDir(data);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const [k, file] of Object.entries(FILES)) {
    const tmp = path.join(dir, `${file}.tmp`);
    fs.writeFileSync(tmp, id[k as keyof typeof FILES], { mode: 0o600 });
    fs.renameSync(tmp, path.join(dir, file));
  }
  fs.writeFileSync(path.join(dir, 'pod'), `${id.podId}\n${id.network}\n`, { mode: 0o600 });
}

export function loadIdentity(data: string): StoredIdentity | undefined {
  const dir = identityDir(data);
  if (!fs.existsSync(path.join(dir, 'pod'))) return undefined;
  const [podId, network] = fs.readFileSync(path.join(dir, 'pod'), 'utf8').split('\n');
  const read = (f: string) => fs.readFileSync(path.join(dir, f), 'utf8');
  return {
    podId: podId ?? '',
    network: network ?? '',
    ca: read(FILES.ca),
    caKey: read(FILES.caKey),
    cert: read(FILES.cert),
    key: read(FILES.key),
  };
}
