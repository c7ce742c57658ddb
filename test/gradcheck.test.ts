import { describe, it, expect } from 'vitest';
import { loadCases } from './gradcheck/cases.js';
import { runGradCase } from './gradcheck/harness.js';

const cases = await loadCases();

describe('gradient check (GPU analytic vs finite differences; forward vs CPU reference)', () => {
  it.each(cases.map((c) => [`${c.op}: ${c.case}`, c] as const))('%s', async (_name, c) => {
    const r = await runGradCase(c);
    expect(r.message ?? '', JSON.stringify(r)).toBe('');
    expect(r.passed).toBe(true);
  });
});
