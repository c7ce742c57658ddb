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
