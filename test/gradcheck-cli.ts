// `npm run gradcheck [-- --json] [-- --op NAME]`: the gradient-check suite outside vitest.
import { init, shutdown } from '../engine/runtime.js';
import { loadCases } from './gradcheck/cases.js';
import { runGradCase, type GradResult } from './gradcheck/harness.js';

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  console.log(`usage: npm run gradcheck -- [--json] [--op NAME]

Checks every differentiable op's GPU gradient against central finite
differences and its forward output against the CPU reference.
  --json       print a JSON array, one entry per case
  --op NAME    only cases of this op (repeatable)
Exit status: 0 when every case passes, 1 otherwise.`);
  process.exit(0);
}
const json = args.includes('--json');
const only = args.flatMap((a, i) => (a === '--op' && args[i + 1] ? [args[i + 1]] : []));

await init();
const results: GradResult[] = [];
for (const c of await loadCases()) {
  if (only.length && !only.includes(c.op)) continue;
  const r = await runGradCase(c);
  results.push(r);
  if (!json) {
    const mark = r.passed ? 'ok  ' : 'FAIL';
    console.log(`${mark} ${r.op.padEnd(18)} ${r.case.padEnd(48)} abs ${r.maxAbsErr.toExponential(2)} rel ${r.maxRelErr.toExponential(2)} fwd ${r.forwardMaxErr.toExponential(2)}${r.message ? '  ' + r.message : ''}`);
  }
}
await shutdown();
const failed = results.filter((r) => !r.passed).length;
if (json) {
  console.log(JSON.stringify(results.map(({ op, case: c, maxAbsErr, maxRelErr, passed }) => ({ op, case: c, maxAbsErr, maxRelErr, passed }))));
} else {
  console.log(`${results.length - failed} passed, ${failed} failed`);
}
process.exit(failed ? 1 : 0);
