export { PRETRAIN_FLAGS, dataOption, exampleArgs, isMainModule, numberListOption, numberOption, pretrainFlagOptions } from './cli';
export { describeRun, exampleEncoder, runPretrainAndCompare } from './pretrain-and-compare';
export type { PretrainAndCompareOptions, PretrainAndCompareResult, PretrainAndCompareSetup } from './pretrain-and-compare';
