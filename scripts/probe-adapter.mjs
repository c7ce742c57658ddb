// Exits 0 and prints the adapter's description when Dawn finds a WebGPU adapter.
import { create } from 'webgpu';

process.env.XDG_RUNTIME_DIR ??= '/tmp';
const gpu = create([]);
const adapter = await gpu.requestAdapter();
if (!adapter) {
  console.error('no WebGPU adapter');
  process.exit(1);
}
const info = adapter.info ?? {};
console.log(`${info.vendor || '?'} ${info.architecture || ''} ${info.description || ''}`.trim());
process.exit(0);
