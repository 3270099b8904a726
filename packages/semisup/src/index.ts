export { fixMatchLoss } from './losses/fixmatch';
export type { FixMatchLossInput, FixMatchLossResult } from './losses/fixmatch';
export { sharpen } from './losses/sharpen';
export { mixup } from './losses/mixup';
export type { MixupResult } from './losses/mixup';
export { softCrossEntropy } from './losses/soft-cross-entropy';
export { consistencyMse } from './losses/consistency-mse';

export { fixmatch, classify, fixMatchEmaDecay } from './fixmatch/fixmatch';
export type { FixMatchConfig, FixMatchNetworks, FixMatchRuntime, ClassifyOptions } from './fixmatch/fixmatch';
export { weakStrong } from './views/weak-strong';
export type { WeakStrongOptions } from './views/weak-strong';
export { semisup, semisup as default } from './fixmatch/plugin';
