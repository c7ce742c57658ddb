// A model's identity for galleries: its file name and a hash of its bytes,
// so a renamed copy matches and a retrained file with the same name does not.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

export function modelIdOf(path: string): string {
  const hash = createHash('sha256').update(readFileSync(path)).digest('hex').slice(0, 16);
  return `${basename(path)} sha256:${hash}`;
}
