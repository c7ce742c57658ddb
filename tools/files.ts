// Expanding command-line paths into image files.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const IMAGE_EXT = /\.(jpe?g|png)$/i;

/**
 * Files named directly are taken as they are (the decoder checks the format);
 * folders contribute their JPEG/PNG files, recursively, in sorted order.
 * A path that does not exist is returned in `missing`.
 */
export function expandImagePaths(paths: string[]): { files: string[]; missing: string[]; fromFolder: boolean } {
  const files: string[] = [];
  const missing: string[] = [];
  let fromFolder = false;
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (IMAGE_EXT.test(name)) files.push(p);
    }
  };
  for (const p of paths) {
    let st;
    try {
      st = statSync(p);
    } catch {
      missing.push(p);
      continue;
    }
    if (st.isDirectory()) {
      fromFolder = true;
      walk(p);
    } else files.push(p);
  }
  return { files, missing, fromFolder };
}

/**
 * expandImagePaths as the commands use it: each missing path is reported on
 * stderr and counts as a failure; null (after saying why) when no image is
 * left to process.
 */
export function imageInputs(paths: string[]): { files: string[]; fromFolder: boolean; failures: number } | null {
  const { files, missing, fromFolder } = expandImagePaths(paths);
  for (const m of missing) console.error(`error: ${m}: no such file or folder`);
  if (files.length === 0) {
    console.error(missing.length ? 'error: nothing to do' : 'error: no .jpg/.png images found in the given folders');
    return null;
  }
  return { files, fromFolder, failures: missing.length };
}
