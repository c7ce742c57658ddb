// CPU references for pooling and shape ops (tests and benchmarks only). Images
// are NHWC; results are float64 (or the input's words, for pure data moves).

export interface PoolRefOptions {
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  ceilMode: boolean;
  countIncludePad?: boolean;
}

/** Output length, written from PyTorch's definition rather than shared with the engine. */
export function refPooledLength(size: number, kernel: number, stride: number, pad: number, ceilMode: boolean): number {
  const span = size + 2 * pad - kernel;
  let out = (ceilMode ? Math.ceil(span / stride) : Math.floor(span / stride)) + 1;
  // The last window must start inside the input or its left padding.
  if (ceilMode && (out - 1) * stride >= size + pad) out -= 1;
  return out;
}

type Reducer = (values: number[], windowArea: number, paddedArea: number) => number;

function pool(x: Float32Array, shape: number[], o: PoolRefOptions, reduce: Reducer): { data: Float64Array; shape: number[] } {
  const [n, h, w, c] = shape;
  const [kh, kw] = o.kernel;
  const [sh, sw] = o.stride;
  const [ph, pw] = o.padding;
  const oh = refPooledLength(h, kh, sh, ph, o.ceilMode);
  const ow = refPooledLength(w, kw, sw, pw, o.ceilMode);
  const out = new Float64Array(n * oh * ow * c);
  for (let b = 0; b < n; b++)
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++)
        for (let ch = 0; ch < c; ch++) {
          const values: number[] = [];
          const h0 = i * sh - ph, w0 = j * sw - pw;
          for (let y = h0; y < h0 + kh; y++)
            for (let x0 = w0; x0 < w0 + kw; x0++)
              if (y >= 0 && y < h && x0 >= 0 && x0 < w) values.push(x[((b * h + y) * w + x0) * c + ch]);
          // PyTorch's avg-pool divisor: the window clipped to the padded input.
          const paddedArea = (Math.min(h0 + kh, h + ph) - h0) * (Math.min(w0 + kw, w + pw) - w0);
          out[((b * oh + i) * ow + j) * c + ch] = reduce(values, values.length, paddedArea);
        }
  return { data: out, shape: [n, oh, ow, c] };
}

export function maxPool2dRef(x: Float32Array, shape: number[], o: PoolRefOptions) {
  return pool(x, shape, o, (v) => Math.max(...v));
}

export function avgPool2dRef(x: Float32Array, shape: number[], o: PoolRefOptions) {
  const includePad = o.countIncludePad ?? true;
  return pool(x, shape, o, (v, area, padded) => v.reduce((a, b) => a + b, 0) / (includePad ? padded : area));
}

export function adaptiveAvgPool2dRef(x: Float32Array, shape: number[], [oh, ow]: [number, number]) {
  const [n, h, w, c] = shape;
  const out = new Float64Array(n * oh * ow * c);
  for (let b = 0; b < n; b++)
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++) {
        const y0 = Math.floor((i * h) / oh), y1 = Math.ceil(((i + 1) * h) / oh);
        const x0 = Math.floor((j * w) / ow), x1 = Math.ceil(((j + 1) * w) / ow);
        for (let ch = 0; ch < c; ch++) {
          let s = 0;
          for (let y = y0; y < y1; y++) for (let xx = x0; xx < x1; xx++) s += x[((b * h + y) * w + xx) * c + ch];
          out[((b * oh + i) * ow + j) * c + ch] = s / ((y1 - y0) * (x1 - x0));
        }
      }
  return { data: out, shape: [n, oh, ow, c] };
}

export function globalAvgPoolRef(x: Float32Array, shape: number[]) {
  const [n, h, w, c] = shape;
  const out = new Float64Array(n * c);
  for (let b = 0; b < n; b++)
    for (let p = 0; p < h * w; p++)
      for (let ch = 0; ch < c; ch++) out[b * c + ch] += x[(b * h * w + p) * c + ch] / (h * w);
  return { data: out, shape: [n, c] };
}

function index(coords: number[], shape: number[]): number {
  return coords.reduce((a, v, d) => a * shape[d] + v, 0);
}

function coordsOf(i: number, shape: number[]): number[] {
  const out = new Array(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    out[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return out;
}

export function permuteRef<T extends Float32Array | Int32Array | Uint32Array>(x: T, shape: number[], axes: number[]): { data: T; shape: number[] } {
  const outShape = axes.map((a) => shape[a]);
  const out = new (x.constructor as new (n: number) => T)(x.length);
  for (let i = 0; i < x.length; i++) {
    const c = coordsOf(i, outShape);
    const src = new Array(shape.length);
    axes.forEach((a, d) => (src[a] = c[d]));
    out[i] = x[index(src, shape)];
  }
  return { data: out, shape: outShape };
}

export function concatRef(xs: Float32Array[], shapes: number[][], axis: number): { data: Float32Array; shape: number[] } {
  const a = axis < 0 ? axis + shapes[0].length : axis;
  const outShape = [...shapes[0]];
  outShape[a] = shapes.reduce((s, sh) => s + sh[a], 0);
  const out = new Float32Array(outShape.reduce((p, d) => p * d, 1));
  let start = 0;
  xs.forEach((x, k) => {
    for (let i = 0; i < x.length; i++) {
      const c = coordsOf(i, shapes[k]);
      c[a] += start;
      out[index(c, outShape)] = x[i];
    }
    start += shapes[k][a];
  });
  return { data: out, shape: outShape };
}

export function sliceRef(x: Float32Array, shape: number[], begin: number[], size: number[]): { data: Float32Array; shape: number[] } {
  const extent = size.map((s, d) => (s === -1 ? shape[d] - begin[d] : s));
  const out = new Float32Array(extent.reduce((p, d) => p * d, 1));
  for (let i = 0; i < out.length; i++) {
    const c = coordsOf(i, extent).map((v, d) => v + begin[d]);
    out[i] = x[index(c, shape)];
  }
  return { data: out, shape: extent };
}
