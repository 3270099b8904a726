export { ntXentLoss } from './losses/nt-xent';
export type { NtXentOptions } from './losses/nt-xent';
export { infoNceLoss } from './losses/info-nce';
export type { InfoNceOptions } from './losses/info-nce';
export { inBatchInfoNceLoss } from './losses/in-batch-info-nce';
export type { InBatchInfoNceOptions } from './losses/in-batch-info-nce';
export { skipGramNegativeSamplingLoss } from './losses/skip-gram';
export { distillationLoss } from './losses/distillation';
export type { DistillationOptions } from './losses/distillation';

export { createFeatureQueue, enqueuedFeatures, enqueueFeatures } from './blocks/feature-queue';
export type { FeatureQueue, FeatureQueueOptions } from './blocks/feature-queue';
export { createMemoryBank, updatedMemoryBank } from './blocks/memory-bank';
export { nearestNeighbours } from './blocks/nearest-neighbours';

export { simclr, SIMCLR_FASHION_VIEWS, validateViewOverrides } from './simclr/simclr';
export type { SimCLRConfig } from './simclr/simclr';
export { moco, MOCO_V2_FASHION_VIEWS } from './moco/moco';
export type { MoCoConfig, MoCoCarry } from './moco/moco';
export { mocov3 } from './mocov3/mocov3';
export type { MoCoV3Config } from './mocov3/mocov3';
export { nnclr } from './nnclr/nnclr';
export type { NNCLRConfig, NNCLRCarry } from './nnclr/nnclr';
export { simclrv2, simclrv2Logits, projectionHeadFirstLayer, SIMCLRV2_STAGES } from './simclrv2/simclrv2';
export type { SimCLRv2Config, SimCLRv2Network, SimCLRv2Runtime, SimCLRv2Stage } from './simclrv2/simclrv2';
export { npid, NPID_FASHION_VIEWS } from './npid/npid';
export type { NPIDConfig, NPIDCarry } from './npid/npid';
export { simclrViews, cropJitterViews, simclrViewSpec, SIMCLR_VIEW_OPTION_RULES } from './views/simclr-views';
export type { SimclrViewOptions } from './views/simclr-views';
export { word2vec, wordVectorsOf } from './word2vec/word2vec';
export type { Word2VecConfig, Word2VecRuntime } from './word2vec/word2vec';
export {
  PAD_WORD,
  buildWordVocabulary,
  wordVocabulary,
  noiseSampler,
  skipGramPairs,
  subsamplingKeepProbabilities,
} from './word2vec/skip-gram-pairs';
export type { SkipGramPairs, WordVocabulary } from './word2vec/skip-gram-pairs';
export { wordVectors, heldOutCooccurrence } from './word2vec/word-vectors';
export type { CooccurrenceEvaluation, WordSimilarity, WordVectors } from './word2vec/word-vectors';
// The 'text' data kind moved to @ssl/core (masked:mlm trains on it too); re-exported here for existing imports.
export { textData, textCorpus } from '@ssl/core';
export type { TextBatch, TextCorpus } from '@ssl/core';
export { default } from './plugin';
