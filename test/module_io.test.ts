import { describe, it, expect, vi, beforeAll, afterAll } from 'vitest';
import * as fsp from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor, tidy } from '../engine/tensor.js';
import { add, mul, sum } from '../engine/ops/elementwise.js';
import { Module } from '../engine/nn/module.js';
import { decodeSafetensors, encodeSafetensors, type HostTensor } from '../engine/safetensors.js';
import { saveSafetensors, loadSafetensors, saveModule, loadModule, saveOptimizer, loadOptimizer } from '../engine/io.js';
import { Adam } from '../engine/optim.js';

// io.ts imports its file functions from here; the crash tests make rename or a
// write fail once, everything else is the real implementation.
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  return { ...real, rename: vi.fn(real.rename), open: vi.fn(real.open) };
});

class Affine extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(n: number, seed: number) {
    super();
    this.weight = this.param('weight', Tensor.from(Array.from({ length: n }, (_, i) => seed + i / 8)));
    this.bias = this.param('bias', Tensor.from(Array.from({ length: n }, (_, i) => seed - i)));
  }
  forward(x: Tensor): Tensor {
    return add(mul(x, this.weight), this.bias);
  }
}

class Stats extends Module {
  readonly mean: Tensor;
  constructor(n: number, seed: number) {
    super();
    this.mean = this.buffer('running_mean', Tensor.from(Array.from({ length: n }, (_, i) => seed * i)));
    this.buffer('batches', Tensor.from([seed], [1], 'i32'));
  }
}

class Block extends Module {
  readonly fc: Affine;
  readonly stats: Stats;
  constructor(seed: number) {
    super();
    this.fc = this.child('fc', new Affine(4, seed));
    this.stats = this.child('stats', new Stats(4, seed));
  }
}

class Net extends Module {
  readonly fc1: Affine;
  readonly block: Block;
  constructor(seed: number) {
    super();
    this.fc1 = this.child('fc1', new Affine(4, seed));
    this.block = this.child('block', new Block(seed + 10));
  }
  forward(x: Tensor): Tensor {
    return this.block.fc.forward(this.fc1.forward(x));
  }
}

let dir = '';
beforeAll(async () => {
  dir = await fsp.mkdtemp(join(tmpdir(), 'module-io-'));
});
afterAll(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

async function values(m: Module): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  for (const [name, t] of m.stateDict()) out[name] = Array.from(await t.data());
  return out;
}

const STATE_NAMES = ['fc1.weight', 'fc1.bias', 'block.fc.weight', 'block.fc.bias', 'block.stats.running_mean', 'block.stats.batches'];

describe('Module', () => {
  it('names parameters and buffers with dotted paths, in registration order', () => {
    const net = new Net(1);
    expect([...net.namedParameters().keys()]).toEqual(['fc1.weight', 'fc1.bias', 'block.fc.weight', 'block.fc.bias']);
    expect([...net.namedBuffers().keys()]).toEqual(['block.stats.running_mean', 'block.stats.batches']);
    expect([...net.stateDict().keys()]).toEqual(STATE_NAMES);
    expect(net.parameters().every((p) => p.requiresGrad && !p.node)).toBe(true);
    expect([...net.namedBuffers().values()].some((b) => b.requiresGrad)).toBe(false);
    expect(net.parameters()[0]).toBe(net.fc1.weight);
    net.dispose();
    expect(net.fc1.weight.disposed).toBe(true);
  });

  it('lists a parameter shared by two modules once', () => {
    const shared = new Affine(2, 0);
    const outer = new Module();
    outer.child('a', shared);
    outer.child('b', shared);
    expect([...outer.namedParameters().keys()]).toEqual(['a.weight', 'a.bias']);
    expect([...outer.stateDict().keys()]).toEqual(['a.weight', 'a.bias', 'b.weight', 'b.bias']);
    shared.dispose();
  });

  it('rejects bad registrations, naming the module and the name', () => {
    const m = new Affine(2, 0);
    expect(() => m.param('weight', Tensor.from([1]))).toThrow('Affine.param("weight"): the name is already registered');
    expect(() => m.child('fc.x', new Module())).toThrow(/Affine\.child\("fc\.x"\): names are letters, digits and _/);
    const derived = mul(m.weight, m.weight);
    expect(() => m.param('w2', derived)).toThrow(/Affine\.param\("w2"\): Tensor\[2\] is the output of an op/);
    expect(() => m.param('w3', Tensor.from([1], [1], 'i32'))).toThrow(/parameters are f32, got i32/);
    derived.dispose();
    m.dispose();
  });

  it('train() and eval() reach every nested module', () => {
    const net = new Net(1);
    const all = () => [net, net.fc1, net.block, net.block.fc, net.block.stats].map((m) => m.training);
    expect(all()).toEqual([true, true, true, true, true]);
    expect(net.eval()).toBe(net);
    expect(all()).toEqual([false, false, false, false, false]);
    net.block.train();
    expect(all()).toEqual([false, false, true, true, true]);
    net.train();
    expect(all()).toEqual([true, true, true, true, true]);
    net.dispose();
  });

  it('loadStateDict copies into the existing tensors', async () => {
    const a = new Net(1);
    const b = new Net(2);
    const weight = b.fc1.weight;
    b.loadStateDict(a.stateDict());
    expect(b.fc1.weight).toBe(weight);
    expect(await values(b)).toEqual(await values(a));
    a.dispose();
    b.dispose();
  });

  it('rejects missing, unexpected and mis-shaped entries in one message and copies nothing', async () => {
    const a = new Net(1);
    const b = new Net(2);
    const before = await values(b);
    const dict = new Map<string, Tensor>(a.stateDict());
    dict.delete('block.fc.bias');
    dict.delete('fc1.bias');
    const extra = Tensor.from([1, 2]);
    const wrong = Tensor.from([1, 2, 3, 4, 5, 6, 7, 8], [2, 4]);
    dict.set('head.weight', extra);
    dict.set('fc1.weight', wrong);
    expect(() => b.loadStateDict(dict)).toThrow(
      'loadStateDict: missing: fc1.bias, block.fc.bias; unexpected: head.weight; shape mismatch: fc1.weight expected [4] got [2, 4]',
    );
    expect(await values(b)).toEqual(before);

    // Non-strict: missing and unexpected are reported, not fatal; shapes still are.
    expect(() => b.loadStateDict(dict, { strict: false })).toThrow(/^loadStateDict: shape mismatch: fc1\.weight/);
    dict.delete('fc1.weight');
    expect(b.loadStateDict(dict, { strict: false })).toEqual({ missing: ['fc1.weight', 'fc1.bias', 'block.fc.bias'], unexpected: ['head.weight'] });
    const after = await values(b);
    expect(after['block.fc.weight']).toEqual((await values(a))['block.fc.weight']);
    expect(after['fc1.weight']).toEqual(before['fc1.weight']);

    const intoI32 = new Map([['block.stats.batches', { dtype: 'f32', shape: [1], data: Float32Array.from([3]) } as HostTensor]]);
    expect(() => b.loadStateDict(intoI32, { strict: false })).toThrow('loadStateDict: dtype mismatch: block.stats.batches expected i32 got f32');
    expect(() => b.loadStateDict({ 'fc1.weight': [1, 2, 3, 4] as unknown as Tensor }, { strict: false })).toThrow(
      'loadStateDict: not a tensor: fc1.weight is neither a Tensor nor { dtype, shape, data }',
    );
    for (const t of [extra, wrong]) t.dispose();
    a.dispose();
    b.dispose();
  });
});

describe('saving and loading files', () => {
  it('round-trips a module through a file: values, dtypes, metadata', async () => {
    const path = join(dir, 'net.safetensors');
    const a = new Net(1);
    const b = new Net(5);
    await saveModule(path, a, { epoch: '3' });
    const loaded = await loadModule(path, b);
    expect(loaded).toEqual({ missing: [], unexpected: [], metadata: { epoch: '3' } });
    expect(await values(b)).toEqual(await values(a));
    const x = Tensor.from([0.5, -1, 2, 3]);
    const [ya, yb] = [a.forward(x), b.forward(x)];
    expect(Array.from(await yb.data())).toEqual(Array.from(await ya.data()));

    const file = await loadSafetensors(path);
    expect([...file.tensors.keys()]).toEqual(STATE_NAMES);
    expect(file.tensors.get('block.stats.batches')).toEqual({ dtype: 'i32', shape: [1], data: Int32Array.from([11]) });
    for (const t of [x, ya, yb]) t.dispose();
    a.dispose();
    b.dispose();
  });

  it('names the file when it does not fit the module', async () => {
    const path = join(dir, 'affine.safetensors');
    const small = new Affine(3, 0);
    await saveModule(path, small);
    const net = new Net(0);
    await expect(loadModule(path, net)).rejects.toThrow(
      `${path}: missing: fc1.weight, fc1.bias, block.fc.weight, block.fc.bias, block.stats.running_mean, block.stats.batches; unexpected: weight, bias`,
    );
    const other = new Affine(4, 0);
    await expect(loadModule(path, other)).rejects.toThrow(`${path}: shape mismatch: weight expected [4] got [3], bias expected [4] got [3]`);
    for (const m of [small, net, other]) m.dispose();
  });

  it('gives clear errors naming the file for truncated and corrupt files', async () => {
    const good = join(dir, 'good.safetensors');
    const net = new Net(1);
    await saveModule(good, net);
    const bytes = await fsp.readFile(good);
    const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));

    const cut = join(dir, 'cut.safetensors');
    await fsp.writeFile(cut, bytes.subarray(0, bytes.length - 2));
    await expect(loadModule(cut, net)).rejects.toThrow(new RegExp(`^${cut}: tensor "block\\.stats\\.batches": data_offsets \\[\\d+, \\d+\\] run past the \\d+ bytes of data: truncated file`));

    await fsp.writeFile(cut, bytes.subarray(0, 8 + headerLength - 1));
    await expect(loadModule(cut, net)).rejects.toThrow(`${cut}: header length ${headerLength} runs past the end of the file (${8 + headerLength - 1} bytes)`);

    await fsp.writeFile(cut, bytes.subarray(0, 5));
    await expect(loadSafetensors(cut)).rejects.toThrow(`${cut}: 5 bytes is too short`);

    const corrupt = join(dir, 'corrupt.safetensors');
    const broken = Uint8Array.from(bytes);
    broken[8 + 1] = 0x7d; // "{}..." : the JSON ends where the first name should start
    await fsp.writeFile(corrupt, broken);
    await expect(loadModule(corrupt, net)).rejects.toThrow(new RegExp(`^${corrupt}: header is not valid UTF-8 JSON`));

    await fsp.writeFile(corrupt, 'just some text, not a tensor file at all');
    await expect(loadModule(corrupt, net)).rejects.toThrow(new RegExp(`^${corrupt}: header length \\d+ runs past the end of the file`));

    await expect(loadModule(join(dir, 'absent.safetensors'), net)).rejects.toThrow(/could not read .*absent\.safetensors: ENOENT/);
    net.dispose();
  });

  describe('atomic save', () => {
    async function previousSurvives(fail: () => void) {
      const path = join(dir, 'atomic', 'model.safetensors');
      await fsp.mkdir(join(dir, 'atomic'), { recursive: true });
      const v1 = new Net(1);
      await saveModule(path, v1);
      const saved = await fsp.readFile(path);
      const v2 = new Net(2);
      fail();
      await expect(saveModule(path, v2)).rejects.toThrow(`could not write ${path}: simulated`);
      expect(Buffer.compare(await fsp.readFile(path), saved)).toBe(0);
      expect(await fsp.readdir(join(dir, 'atomic'))).toEqual(['model.safetensors']);
      // And the next save goes through.
      await saveModule(path, v2);
      const back = new Net(0);
      await loadModule(path, back);
      expect(await values(back)).toEqual(await values(v2));
      for (const m of [v1, v2, back]) m.dispose();
    }

    it('keeps the previous file when the rename fails', () =>
      previousSurvives(() => vi.mocked(fsp.rename).mockRejectedValueOnce(new Error('simulated crash before rename'))));

    it('keeps the previous file when the write dies half way', async () => {
      const real = await vi.importActual<typeof import('node:fs/promises')>('node:fs/promises');
      await previousSurvives(() =>
        vi.mocked(fsp.open).mockImplementationOnce(async (path, flags) => {
          const handle = await real.open(path, flags);
          // A handle whose writeFile writes half the bytes, then fails like a full disk.
          return new Proxy(handle, {
            get(target, key) {
              if (key === 'writeFile') {
                return async (data: Uint8Array) => {
                  await target.write(data.subarray(0, data.length >> 1));
                  throw new Error('simulated ENOSPC half way');
                };
              }
              const v = Reflect.get(target, key);
              return typeof v === 'function' ? v.bind(target) : v;
            },
          });
        }),
      );
    });
  });

  it('saves and loads optimiser state so training resumes exactly', async () => {
    const path = join(dir, 'adam.safetensors');
    const run = async (resumeFrom?: string) => {
      const net = new Net(1);
      const opt = new Adam(net.namedParameters(), { lr: 0.01, weightDecay: 0.01 });
      const x = Tensor.from([0.5, -1, 2, 3]);
      const step = () => {
        tidy(() => sum(mul(net.forward(x), x)).backward());
        opt.step();
        opt.zeroGrad();
      };
      if (resumeFrom) {
        await loadModule(join(dir, 'adam-net.safetensors'), net);
        await loadOptimizer(resumeFrom, opt);
      } else {
        for (let k = 0; k < 3; k++) step();
        await saveModule(join(dir, 'adam-net.safetensors'), net);
        await saveOptimizer(path, opt, { note: 'three steps' });
      }
      for (let k = 0; k < 2; k++) step();
      const out = await values(net);
      const steps = opt.stateDict().steps;
      opt.dispose();
      net.dispose();
      x.dispose();
      return { out, steps };
    };
    const straight = await run();
    const resumed = await run(path);
    expect(resumed.steps).toEqual({ 'fc1.weight': 5, 'fc1.bias': 5, 'block.fc.weight': 5, 'block.fc.bias': 5 });
    expect(resumed.out).toEqual(straight.out);

    const notOptimiser = join(dir, 'net-only.safetensors');
    const net = new Net(1);
    await saveModule(notOptimiser, net);
    const opt = new Adam(net.parameters(), { lr: 0.01 });
    await expect(loadOptimizer(notOptimiser, opt)).rejects.toThrow(`${notOptimiser}: no "optimizer" entry in the metadata`);
    net.dispose();
  });

  it('refuses to save a disposed tensor, naming it and the file', async () => {
    const t = Tensor.from([1]);
    t.dispose();
    await expect(saveSafetensors(join(dir, 'x.safetensors'), { gone: t })).rejects.toThrow(/saving .*x\.safetensors: tensor "gone" Tensor\[1\] was disposed/);
    expect(existsSync(join(dir, 'x.safetensors'))).toBe(false);
  });
});

// ---- the format itself, on bytes ------------------------------------------

/** Builds a file by hand: `header` as given (no padding), then `data`. */
function fileOf(header: object, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function bytesOf(write: (v: DataView) => void, n: number): Uint8Array {
  const b = new Uint8Array(n);
  write(new DataView(b.buffer));
  return b;
}

describe('safetensors bytes', () => {
  it('round-trips f32, i32, u32, scalars, empty tensors and metadata', () => {
    const tensors = new Map<string, HostTensor>([
      ['w', { dtype: 'f32', shape: [2, 3], data: Float32Array.from([1.5, -2, 3e-8, 0, -0, 65504]) }],
      ['n', { dtype: 'i32', shape: [], data: Int32Array.from([-7]) }],
      ['ids', { dtype: 'u32', shape: [2], data: Uint32Array.from([0, 4294967295]) }],
      ['none', { dtype: 'f32', shape: [0, 4], data: new Float32Array(0) }],
    ]);
    const bytes = encodeSafetensors(tensors, { format: 'pt' });
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(headerLength % 8).toBe(0);
    expect(bytes.length).toBe(8 + headerLength + 6 * 4 + 4 + 8);
    const back = decodeSafetensors(bytes);
    expect(back.metadata).toEqual({ format: 'pt' });
    expect(back.tensors).toEqual(tensors);
  });

  it('reads F16, BF16, F64 and I64 as f32 / i32', () => {
    const data = new Uint8Array(4 + 4 + 16 + 16);
    data.set(bytesOf((v) => (v.setUint16(0, 0x3c00, true), v.setUint16(2, 0xc100, true)), 4), 0); // f16 1, -2.5
    data.set(bytesOf((v) => (v.setUint16(0, 0x3f80, true), v.setUint16(2, 0x4049, true)), 4), 4); // bf16 1, 3.140625
    data.set(bytesOf((v) => (v.setFloat64(0, 0.1, true), v.setFloat64(8, -1e30, true)), 16), 8);
    data.set(bytesOf((v) => (v.setBigInt64(0, -5n, true), v.setBigInt64(8, 2147483647n, true)), 16), 24);
    const { tensors } = decodeSafetensors(
      fileOf(
        {
          h: { dtype: 'F16', shape: [2], data_offsets: [0, 4] },
          b: { dtype: 'BF16', shape: [2], data_offsets: [4, 8] },
          d: { dtype: 'F64', shape: [2], data_offsets: [8, 24] },
          l: { dtype: 'I64', shape: [2, 1], data_offsets: [24, 40] },
        },
        data,
      ),
    );
    expect(tensors.get('h')).toEqual({ dtype: 'f32', shape: [2], data: Float32Array.from([1, -2.5]) });
    expect(tensors.get('b')).toEqual({ dtype: 'f32', shape: [2], data: Float32Array.from([1, 3.140625]) });
    expect(tensors.get('d')).toEqual({ dtype: 'f32', shape: [2], data: Float32Array.from([0.1, -1e30]) });
    expect(tensors.get('l')).toEqual({ dtype: 'i32', shape: [2, 1], data: Int32Array.from([-5, 2147483647]) });
  });

  it('rejects what it cannot read, naming the tensor', () => {
    const e = (header: object, data: Uint8Array = new Uint8Array(16)) => () => decodeSafetensors(fileOf(header, data), 'f.safetensors');
    expect(e({ mask: { dtype: 'BOOL', shape: [4], data_offsets: [0, 4] } })).toThrow('f.safetensors: tensor "mask": dtype BOOL is not supported');
    expect(e({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } })).toThrow(
      'f.safetensors: tensors "a" [0, 8] and "b" [4, 12] overlap',
    );
    expect(e({ a: { dtype: 'F32', shape: [8], data_offsets: [0, 32] } })).toThrow('f.safetensors: tensor "a": data_offsets [0, 32] run past the 16 bytes of data');
    expect(e({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } })).toThrow('f.safetensors: tensor "a": shape [3] of F32 needs 12 bytes, data_offsets [0, 8] hold 8');
    expect(e({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } })).toThrow(/tensor "a": shape \[-1\] is not a list of non-negative integers/);
    expect(e({ a: { dtype: 'F32', shape: [1], data_offsets: [8, 4] } })).toThrow(/tensor "a": data_offsets \[8, 4\] end before they begin/);
    expect(e({ a: { dtype: 'F32', shape: [1] } })).toThrow(/tensor "a": data_offsets undefined is not a pair/);
    expect(e({ __metadata__: { epoch: 3 } })).toThrow('f.safetensors: __metadata__["epoch"] is not a string');
    const big = bytesOf((v) => v.setBigInt64(0, 2n ** 40n, true), 8);
    expect(e({ steps: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, big)).toThrow('tensor "steps": value 1099511627776 at index 0 does not fit int32');
    const huge = bytesOf((v) => v.setFloat64(0, 1e300, true), 8);
    expect(e({ x: { dtype: 'F64', shape: [1], data_offsets: [0, 8] } }, huge)).toThrow('tensor "x": value 1e+300 at index 0 overflows float32');
    expect(() => encodeSafetensors({ x: { dtype: 'f32', shape: [3], data: new Float32Array(2) } })).toThrow('safetensors: tensor "x" has 2 values for shape [3]');
  });

  const pnet = '/work/shared/weights/mtcnn/pnet.safetensors';
  it.skipIf(!existsSync(pnet))('reads a file written by the reference implementation and writes the same data bytes', async () => {
    const bytes = await fsp.readFile(pnet);
    const { tensors, metadata } = decodeSafetensors(bytes, pnet);
    expect(tensors.get('conv1.weight')?.shape).toEqual([10, 3, 3, 3]);
    expect(metadata.layout).toMatch(/conv \[out,in,kh,kw\]/);
    const again = encodeSafetensors(tensors, metadata);
    const dataOf = (b: Uint8Array) => b.subarray(8 + Number(new DataView(b.buffer, b.byteOffset).getBigUint64(0, true)));
    expect(Buffer.compare(dataOf(again), dataOf(bytes))).toBe(0);
  });
});
