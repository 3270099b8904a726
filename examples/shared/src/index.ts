export { argument, isMainModule, numberArgument } from './cli';
export { ENCODER, runPretrainAndCompare } from './pretrain-and-compare';
export type { EncoderScores, PretrainAndCompareOptions, PretrainAndCompareResult, PretrainAndCompareSetup } from './pretrain-and-compare';
