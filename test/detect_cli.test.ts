// The detect command as a user runs it: output format, exit codes, bad files.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, copyFileSync, readdirSync, readFileSync } from 'node:fs';
import { PNG } from 'pngjs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const run = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', join(root, 'tools/detect.ts'), ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: '/tmp' } });

describe('npm run detect', () => {
  it('--help exits 0 and documents the options', () => {
    const r = run(['--help']);
    expect(r.status).toBe(0);
    for (const o of ['--json', '--min-face', '--thresholds', '--factor', '--out']) expect(r.stdout).toContain(o);
  });

  it('rejects bad options with exit 2 and a message naming the option', () => {
    const r = run(['--thresholds', '0.6,0.7', 'x.jpg']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--thresholds 0\.6,0\.7: must be three probabilities/);
  });

  it('processes a folder: JSON lines for good images, named errors for bad ones, exit 1, annotated PNGs', () => {
    const dir = mkdtempSync(join(tmpdir(), 'detect-'));
    copyFileSync(join(root, 'examples/multiface.jpg'), join(dir, 'a_multiface.jpg'));
    writeFileSync(join(dir, 'b_truncated.jpg'), new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 16]));
    writeFileSync(join(dir, 'c_really_a_gif.png'), Buffer.from('GIF89a\x01\x00\x01\x00'));
    const out = join(dir, 'out');
    const aligned = join(dir, 'aligned');
    const r = run(['--json', '--out', out, '--align', aligned, '--align-template', 'arcface112', dir]);
    expect(r.status).toBe(1);
    const lines = r.stdout.trim().split('\n');
    expect(lines.length).toBe(1);
    const obj = JSON.parse(lines[0]);
    expect(obj.image).toContain('a_multiface.jpg');
    expect([obj.width, obj.height]).toEqual([1200, 630]);
    expect(obj.faces.length).toBe(6);
    for (const f of obj.faces) {
      expect(f.box.length).toBe(4);
      expect(f.landmarks.length).toBe(5);
      expect(f.score).toBeGreaterThan(0.99);
    }
    expect(r.stderr).toMatch(/b_truncated\.jpg/);
    expect(r.stderr).toMatch(/c_really_a_gif\.png.*GIF/);
    expect(readdirSync(out)).toEqual(['a_multiface.png']);
    const crops = readdirSync(aligned).sort();
    expect(crops).toEqual([0, 1, 2, 3, 4, 5].map((k) => `a_multiface_${k}.png`));
    const crop = PNG.sync.read(readFileSync(join(aligned, crops[0])));
    expect([crop.width, crop.height]).toEqual([112, 112]);
  });
});
