// Neural-network building blocks: modules, dense layers and initializers.

export { Module, type TensorRecord } from './module.js';
export { initialize, type Initializer, type InitContext } from './init.js';
export { EmbeddingBag, type EmbeddingBagOptions } from './embedding.js';
export { Linear, LayerNorm, BatchNorm, Dropout, MLP, type Activation, type LinearOptions, type MLPOptions } from './layers.js';
