// Every op, one namespace: `import { ops } from './engine/index.js'`.
export * from './elementwise.js';
export * from './fill.js';
export * from './conv.js';
export * from './matmul.js';
export * from './batchnorm.js';
export * from './activation.js';
export * from './dropout.js';
export * from './pool.js';
export * from './shape.js';
export * from './softmax.js';
export * from './normalize.js';
export * from './losses.js';
export * from './select.js';
export * from './boxes.js';
export * from './detect.js';
export * from './image.js';
