// The engine's public surface.
export { init, shutdown, sync, flush, poolStats, runtime, type Runtime } from './runtime.js';
export type { DeviceOptions } from './device.js';
export { Tensor, tidy, tidyAsync, keep, noGrad, noGradAsync, isGradEnabled, type Shape, type DType } from './tensor.js';
export { kernel, dispatch, grid1d } from './kernel.js';
export type { PoolStats } from './pool.js';
export * as ops from './ops/index.js';
export { Module } from './nn/module.js';
export * as nn from './nn/layers.js';
export { SGD, Adam, AdamW } from './optim.js';
export * as schedule from './schedule.js';
export { saveSafetensors, loadSafetensors, saveModule, loadModule, saveOptimizer, loadOptimizer } from './io.js';
export { encodeSafetensors, decodeSafetensors, type HostTensor } from './safetensors.js';
