// npm run bench as a user runs it, on one small case: the table, the JSON
// with the names and fields the benchmark promises, the chart beside it, and
// --profile's per-kernel GPU times.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const run = (args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', join(root, 'bench/run.ts'), ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: '/tmp' } });

describe('npm run bench', () => {
  it('--help lists the options', () => {
    const r = run(['--help']);
    expect(r.status).toBe(0);
    for (const o of ['--json', '--filter', '--quick', '--peers', '--profile']) expect(r.stdout).toContain(o);
  });

  it('times a filtered case, checks it against the reference, writes JSON + chart, and profiles it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-'));
    const json = join(dir, 'bench.json');
    const r = run(['--quick', '--filter', 'l2-normalise 256x128', '--json', json, '--profile']);
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/measured peak: [\d.]+ GFLOP\/s .* [\d.]+ GB\/s/);
    expect(r.stdout).toMatch(/peak at the end: [\d.]+ GFLOP\/s, [\d.]+ GB\/s \(start: [\d.]+, [\d.]+\)/);
    expect(r.stdout).toContain('| l2-normalise 256x128 |');
    const results = JSON.parse(readFileSync(json, 'utf8'));
    expect(results).toHaveLength(1);
    const [c] = results;
    expect(c.name).toBe('l2-normalise 256x128');
    expect(c.ms).toBeGreaterThan(0);
    expect(c.gbps).toBeGreaterThan(0);
    expect(c.peakFraction).toBeGreaterThan(0);
    expect(c.maxAbsErr).toBeLessThan(1e-5);
    expect(c.profile.length).toBeGreaterThanOrEqual(1);
    expect(c.profile[0].kernel).toMatch(/^l2norm\.wgsl:/);
    expect(c.profile[0].dispatches).toBeGreaterThanOrEqual(1);
    expect(r.stdout).toMatch(/GPU time [\d.]+ ms in \d+ dispatches/);
    const png = readFileSync(join(dir, 'bench.png'));
    expect(png.subarray(1, 4).toString()).toBe('PNG');
  }, 120_000);
});
