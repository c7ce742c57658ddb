// Collects every GradCase from the files in ./cases (one file per op family),
// so adding an op's checks means adding one file.
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join } from 'node:path';
import type { GradCase } from './harness.js';

const dir = fileURLToPath(new URL('./cases/', import.meta.url));

export async function loadCases(): Promise<GradCase[]> {
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts')).sort();
  const all: GradCase[] = [];
  for (const f of files) {
    const mod = await import(pathToFileURL(join(dir, f)).href);
    if (!Array.isArray(mod.cases)) throw new Error(`test/gradcheck/cases/${f} must export \`cases: GradCase[]\``);
    all.push(...mod.cases);
  }
  return all;
}
