// FaceNet: the two backbones, the embedding head and PyTorch weight conversion.
export * from './facenet.js';
export { MobileNetV1, ConvBn, ConvDw } from './mobilenet.js';
export { InceptionResNetV1, BasicConv2d, Block35, Block17, Block8, Mixed6a, Mixed7a, type BlockWidths } from './inception_resnet_v1.js';
export { Sequential, type Layer } from './blocks.js';
export * from './weights.js';
export * from './training.js';
