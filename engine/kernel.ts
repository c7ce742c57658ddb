// WGSL kernels: loaded from shaders/, reflected with wgsl_reflect, compiled
// once per (file, entry point, override constants) and dispatched by name.
//
// Nothing about a kernel's interface is written in TypeScript: the bind group
// layout comes from the entry point's resources and the uniform buffer layout
// from its struct, both read off the WGSL. A call passes one object whose keys
// are the WGSL names: buffer bindings get tensors, uniform members get numbers.
//
//   const k = kernel('relu.wgsl', 'forward');
//   dispatch(k, { x, y, n: x.size }, grid1d(x.size, 256));
//
// A shader may pull in shared WGSL with a line `//!include common.wgsl`;
// compile errors are reported with the original file name and line.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { WgslReflect } from 'wgsl_reflect/wgsl_reflect.module.js';
import { runtime, type Runtime } from './runtime.js';

export const SHADER_DIR = fileURLToPath(new URL('../shaders/', import.meta.url));

interface Segment {
  file: string;
  firstLine: number; // 1-based line in the assembled source
  lines: number;
}

interface ShaderSource {
  file: string;
  code: string;
  segments: Segment[];
  reflect: WgslReflect;
}

type Access = 'uniform' | 'read' | 'read_write';

interface BindingInfo {
  name: string;
  binding: number;
  access: Access;
}

interface UniformMember {
  name: string;
  offset: number;
  scalar: 'f32' | 'u32' | 'i32';
  count: number; // scalars in this member (vecN, arrays of vecN)
}

export interface Kernel {
  id: string;
  file: string;
  entry: string;
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  buffers: BindingInfo[];
  uniform: { name: string; binding: number; size: number; members: UniformMember[] } | null;
  workgroupSize: [number, number, number];
}

/** Anything that owns a GPU buffer: tensors, or raw buffers wrapped by ops. */
export interface BufferLike {
  buffer: GPUBuffer;
  byteLength: number;
}

export type KernelArgs = Record<string, BufferLike | number | readonly number[]>;

const sources = new Map<string, ShaderSource>();
const kernels = new Map<string, Kernel>();
const bufferIds = new WeakMap<GPUBuffer, number>();
let nextBufferId = 1;
const bindGroups = new Map<string, GPUBindGroup>();
let cacheDevice: GPUDevice | null = null;

/** Pipelines and bind groups belong to one device; a new device starts afresh. */
function caches(rt: Runtime): void {
  if (cacheDevice !== rt.device) {
    kernels.clear();
    bindGroups.clear();
    cacheDevice = rt.device;
  }
}

function loadSource(file: string): ShaderSource {
  let src = sources.get(file);
  if (src) return src;
  const segments: Segment[] = [];
  const out: string[] = [];
  const seen = new Set<string>();
  const add = (name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    let text: string;
    try {
      text = readFileSync(join(SHADER_DIR, name), 'utf8');
    } catch {
      throw new Error(`shader file not found: shaders/${name}`);
    }
    const lines = text.split('\n');
    let start = 0;
    const flushSeg = (end: number) => {
      if (end > start) {
        segments.push({ file: name, firstLine: out.length + 1 - (end - start), lines: end - start });
      }
    };
    for (let i = 0; i < lines.length; i++) {
      const m = /^\s*\/\/!include\s+(\S+)/.exec(lines[i]);
      if (m) {
        flushSeg(i);
        add(m[1]);
        start = i + 1;
        // Keep the include line itself as a blank so line numbers stay mappable.
        out.push('');
        segments.push({ file: name, firstLine: out.length, lines: 1 });
      } else {
        out.push(lines[i]);
        if (i === lines.length - 1) flushSeg(i + 1);
      }
    }
  };
  add(file);
  const code = out.join('\n');
  src = { file, code, segments, reflect: new WgslReflect(code) };
  sources.set(file, src);
  return src;
}

/** Maps a line of the assembled source back to `file:line`. */
function origin(src: ShaderSource, line: number): string {
  for (const s of src.segments) {
    if (line >= s.firstLine && line < s.firstLine + s.lines) {
      // Count how many lines of this file came before this segment.
      let before = 0;
      for (const t of src.segments) {
        if (t === s) break;
        if (t.file === s.file) before += t.lines;
      }
      return `shaders/${s.file}:${before + (line - s.firstLine) + 1}`;
    }
  }
  return `shaders/${src.file}:?${line}`;
}

function scalarOf(typeName: string, format?: string): 'f32' | 'u32' | 'i32' {
  const t = format ?? typeName;
  if (t === 'f32' || t === 'u32' || t === 'i32') return t;
  if (/^vec\d[fiu]$/.test(t)) return ({ f: 'f32', i: 'i32', u: 'u32' } as const)[t[4] as 'f' | 'i' | 'u'];
  throw new Error(`unsupported uniform member type ${typeName}<${format}>`);
}

function describeMembers(members: any[]): UniformMember[] {
  return members.map((m) => {
    const t = m.type;
    if (t.isArray) {
      const el = t.format;
      const per = /vec(\d)/.exec(el.name)?.[1];
      const lanes = per ? Number(per) : 1;
      if (lanes * 4 !== t.stride) throw new Error(`uniform array ${m.name} must have a 16-byte vec4 element`);
      return { name: m.name, offset: m.offset, scalar: scalarOf(el.name, el.format?.name), count: t.count * lanes };
    }
    const lanes = /vec(\d)/.exec(t.name)?.[1];
    return { name: m.name, offset: m.offset, scalar: scalarOf(t.name, t.format?.name), count: lanes ? Number(lanes) : 1 };
  });
}

/** Returns the compiled kernel for an entry point of a shader file, compiling it once. */
export function kernel(file: string, entry = 'main', overrides: Record<string, number> = {}): Kernel {
  const okeys = Object.keys(overrides).sort();
  const id = `${file}:${entry}${okeys.length ? '{' + okeys.map((k) => `${k}=${overrides[k]}`).join(',') + '}' : ''}`;
  const rt = runtime();
  caches(rt);
  const hit = kernels.get(id);
  if (hit) return hit;
  const src = loadSource(file);
  const fn = src.reflect.entry.compute.find((f) => f.name === entry);
  if (!fn) throw new Error(`shaders/${file} has no @compute entry point "${entry}"`);

  const buffers: BindingInfo[] = [];
  let uniform: Kernel['uniform'] = null;
  const layoutEntries: GPUBindGroupLayoutEntry[] = [];
  for (const r of fn.resources) {
    if (r.group !== 0) throw new Error(`shaders/${file}: only @group(0) is supported (${r.name})`);
    if (r.resourceType === 0 /* Uniform */) {
      if (uniform) throw new Error(`shaders/${file}: one uniform struct per entry point`);
      const members = r.members ?? [];
      uniform = { name: r.name, binding: r.binding, size: r.size, members: describeMembers(members) };
      layoutEntries.push({ binding: r.binding, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true } });
    } else if (r.resourceType === 1 /* Storage */) {
      const access: Access = r.access === 'read' ? 'read' : 'read_write';
      buffers.push({ name: r.name, binding: r.binding, access });
      layoutEntries.push({
        binding: r.binding,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: access === 'read' ? 'read-only-storage' : 'storage' },
      });
    } else {
      throw new Error(`shaders/${file}: resource ${r.name} of unsupported kind`);
    }
  }

  const device = rt.device;
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ code: src.code, label: file });
  const layout = device.createBindGroupLayout({ entries: layoutEntries, label: id });
  const pipeline = device.createComputePipeline({
    label: id,
    layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
    compute: { module, entryPoint: entry, constants: overrides },
  });
  watchCompile(rt, src, module, device.popErrorScope(), id);

  const wgs = fn.workgroupSize ?? [1, 1, 1];
  const k: Kernel = { id, file, entry, pipeline, layout, buffers, uniform, workgroupSize: [wgs[0], wgs[1], wgs[2]] };
  kernels.set(id, k);
  return k;
}

function watchCompile(rt: Runtime, src: ShaderSource, module: GPUShaderModule, scope: Promise<GPUError | null>, id: string) {
  Promise.all([module.getCompilationInfo(), scope]).then(([info, err]) => {
    const errors = info.messages.filter((m) => m.type === 'error');
    if (errors.length) {
      const lines = errors.map((m) => `${origin(src, m.lineNum)}:${m.linePos}: ${m.message}`);
      rt.pendingErrors.push(new Error(`WGSL compile error in ${id}\n${lines.join('\n')}`));
    } else if (err) {
      rt.pendingErrors.push(new Error(`pipeline ${id} failed validation: ${err.message}`));
    }
  });
}

/** Compiles an entry point and waits for the compiler's verdict (tests use this). */
export async function compileCheck(file: string, entry = 'main', overrides: Record<string, number> = {}): Promise<void> {
  const rt = runtime();
  kernel(file, entry, overrides);
  await rt.device.queue.onSubmittedWorkDone();
  await new Promise((r) => setTimeout(r, 0));
  if (rt.pendingErrors.length) throw rt.pendingErrors.splice(0)[0];
}

function bufferId(b: GPUBuffer): number {
  let id = bufferIds.get(b);
  if (!id) bufferIds.set(b, (id = nextBufferId++));
  return id;
}

function isBuffer(v: unknown): v is BufferLike {
  return typeof v === 'object' && v !== null && 'buffer' in v;
}

/** Records one dispatch of `k` into the shared encoder. */
export function dispatch(k: Kernel, args: KernelArgs, workgroups: number | readonly number[]): void {
  const rt = runtime();
  const maxBinding = rt.limits.maxStorageBufferBindingSize;

  let key = k.id;
  const entries: GPUBindGroupEntry[] = [];
  for (const b of k.buffers) {
    const v = args[b.name];
    if (!isBuffer(v)) throw new Error(`${k.id}: missing buffer argument "${b.name}"`);
    const size = Math.max(4, Math.ceil(v.byteLength / 4) * 4);
    if (size > maxBinding) {
      throw new Error(
        `${k.id}: "${b.name}" is ${size} bytes, over the adapter's maxStorageBufferBindingSize of ${maxBinding} bytes; split the batch`,
      );
    }
    entries.push({ binding: b.binding, resource: { buffer: v.buffer, offset: 0, size } });
    key += `|${bufferId(v.buffer)}:${size}`;
  }

  const dynamicOffsets: number[] = [];
  if (k.uniform) {
    const u = k.uniform;
    const slot = rt.recorder.allocUniform(u.size);
    for (const m of u.members) {
      const v = args[m.name];
      if (v === undefined) throw new Error(`${k.id}: missing uniform "${m.name}"`);
      const vals = typeof v === 'number' ? [v] : (v as readonly number[]);
      if (isBuffer(vals)) throw new Error(`${k.id}: "${m.name}" is a uniform, not a buffer`);
      if (vals.length > m.count) throw new Error(`${k.id}: uniform "${m.name}" takes ${m.count} values, got ${vals.length}`);
      for (let i = 0; i < vals.length; i++) {
        const o = m.offset + i * 4;
        if (m.scalar === 'f32') slot.bytes.setFloat32(o, vals[i], true);
        else if (m.scalar === 'u32') slot.bytes.setUint32(o, vals[i] >>> 0, true);
        else slot.bytes.setInt32(o, vals[i] | 0, true);
      }
    }
    entries.push({ binding: u.binding, resource: { buffer: slot.buffer, offset: 0, size: Math.ceil(u.size / 16) * 16 } });
    key += `|u${bufferId(slot.buffer)}`;
    dynamicOffsets.push(slot.offset);
  }
  for (const name of Object.keys(args)) {
    if (!k.buffers.some((b) => b.name === name) && !k.uniform?.members.some((m) => m.name === name)) {
      throw new Error(`${k.id}: unknown argument "${name}"`);
    }
  }

  let bg = bindGroups.get(key);
  if (!bg) {
    if (bindGroups.size > 8192) bindGroups.clear();
    bg = rt.device.createBindGroup({ layout: k.layout, entries });
    bindGroups.set(key, bg);
  }
  const wg = typeof workgroups === 'number' ? [workgroups, 1, 1] : workgroups;
  const x = wg[0] ?? 1, y = wg[1] ?? 1, z = wg[2] ?? 1;
  if (x * y * z === 0) return;
  const maxWg = rt.limits.maxComputeWorkgroupsPerDimension;
  if (x > maxWg || y > maxWg || z > maxWg) {
    throw new Error(`${k.id}: dispatch ${x}x${y}x${z} exceeds maxComputeWorkgroupsPerDimension (${maxWg})`);
  }
  // A detailed profile tells dispatches of one kernel apart by their grid and buffer sizes.
  const label = rt.recorder.profiler?.detailed
    ? `${k.id} [${x},${y},${z}] ${k.buffers.map((b) => `${b.name}:${(args[b.name] as BufferLike).byteLength}`).join(' ')}`
    : k.id;
  rt.recorder.dispatch(k.pipeline, bg, dynamicOffsets, [x, y, z], label);
}

/** Forgets cached bind groups (after the pool destroys buffers). */
export function clearBindGroupCache(): void {
  bindGroups.clear();
}

/**
 * Workgroup grid for `n` threads of a 1-D kernel with `wgSize` lanes. Counts over
 * 65535 workgroups spill into y; kernels read their index with `linearIndex()`
 * from common.wgsl.
 */
export function grid1d(n: number, wgSize: number): [number, number, number] {
  const groups = Math.ceil(n / wgSize);
  if (groups <= 65535) return [groups, 1, 1];
  const y = Math.ceil(groups / 65535);
  return [Math.ceil(groups / y), y, 1];
}
