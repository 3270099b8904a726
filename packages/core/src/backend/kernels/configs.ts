import type { KernelConfig } from '@tensorflow/tfjs-core';

import {
  batchNormBackwardConfig,
  batchNormBackwardFromInputConfig,
  batchNormForwardConfig,
  batchNormForwardKeepingInputConfig,
  batchNormInferenceConfig,
} from './batch-norm';
import { broadcastBinaryConfigs } from './broadcast-binary';
import { conv2dBackpropFilterConfig, conv2dBackpropInputConfig } from './conv2d-backprop';
import { depthwiseConv2dBackpropFilterConfig, depthwiseConv2dBackpropInputConfig } from './depthwise-conv2d-backprop';
import { batchMatMulConfig, fusedMatMulConfig } from './matmul';
import { erfConfig } from './erf';
import { addConfig, multiplyConfig, reluConfig, stepConfig } from './elementwise';
import { gatherV2Config } from './gather';
import { geluExactForwardConfig, geluTanhBackwardConfig, geluTanhForwardConfig } from './gelu';
import { castConfig, identityConfig } from './identity';
import { layerNormBackwardConfig, layerNormForwardConfig } from './layer-norm';
import { oneHotConfig } from './one-hot';
import { maxPoolGradConfig, meanConfig, sumConfig } from './reduce-pool';
import { reverseConfig } from './reverse';
import { padV2Config, sliceConfig, splitVConfig, unpackConfig } from './slice-pad';
import { smallElementwiseConfigs } from './small-elementwise';
import { transposeConfig } from './transpose';
import { unsortedSegmentSumConfig } from './unsorted-segment-sum';
import { conv2dConfig, fusedConv2dConfig } from './winograd';

/** Every kernel `registerWasmTrainingKernels()` installs on the wasm backend. */
export const wasmTrainingKernelConfigs: readonly KernelConfig[] = [
  transposeConfig,
  batchMatMulConfig,
  fusedMatMulConfig,
  conv2dConfig,
  fusedConv2dConfig,
  conv2dBackpropFilterConfig,
  conv2dBackpropInputConfig,
  depthwiseConv2dBackpropFilterConfig,
  depthwiseConv2dBackpropInputConfig,
  unsortedSegmentSumConfig,
  oneHotConfig,
  gatherV2Config,
  sliceConfig,
  splitVConfig,
  unpackConfig,
  padV2Config,
  reverseConfig,
  sumConfig,
  meanConfig,
  maxPoolGradConfig,
  identityConfig,
  castConfig,
  ...broadcastBinaryConfigs,
  batchNormForwardConfig,
  batchNormBackwardConfig,
  batchNormForwardKeepingInputConfig,
  batchNormBackwardFromInputConfig,
  batchNormInferenceConfig,
  geluTanhForwardConfig,
  geluExactForwardConfig,
  geluTanhBackwardConfig,
  layerNormForwardConfig,
  layerNormBackwardConfig,
  erfConfig,
  reluConfig,
  stepConfig,
  multiplyConfig,
  addConfig,
  ...smallElementwiseConfigs,
];
