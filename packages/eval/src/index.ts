export type { Accuracy, FeatureEncoder, FeatureSet, LabeledImageDataset } from './types';

export { extractFeatures, flattenEncoder, FeatureCache } from './extract-features';
export type { ExtractFeaturesOptions } from './extract-features';

export { linearProbe, argmaxRows } from './linear-probe';
export type { LinearProbeOptions, LinearProbeResult } from './linear-probe';
export { fitLogisticRegression, classifierScores, featureMoments } from './logistic-regression';
export type { LinearClassifier, LogisticRegressionFit, LogisticRegressionOptions } from './logistic-regression';
export { minimizeLbfgs } from './lbfgs';
export type { LbfgsOptions, LbfgsResult, Objective } from './lbfgs';

export { knnClassify, nearestNeighbors, knnScores, topKAccuracy } from './knn';
export type { KnnClassifyOptions, KnnVoteOptions, KnnWeighting, NearestNeighbors, NearestNeighborsOptions } from './knn';

export { fineTune, layerwiseLearningRates } from './fine-tune';
export type { FineTuneEpoch, FineTuneOptions, FineTuneResult, LayerBlockRate, TrainableEncoder } from './fine-tune';

export { labelFractionEval } from './label-fractions';
export type { LabelFractionOptions, LabelFractionRow } from './label-fractions';

export { compareRepresentations, formatComparisonTable } from './compare-representations';
export type {
  CompareRepresentationsOptions,
  ComparisonCandidate,
  ComparisonRow,
  ComparisonTableOptions,
  FewLabelsOptions,
  MeanStd,
} from './compare-representations';

export { fewShotEval, prototypePredict } from './few-shot';
export type { FewShotClassifier, FewShotOptions, FewShotResult } from './few-shot';
export { summarize, confidenceInterval95 } from './statistics';
export type { Summary } from './statistics';

export { kMeans, normalizeRows } from './kmeans';
export type { KMeansOptions, KMeansResult } from './kmeans';
export { hungarian } from './hungarian';
export { normalizedMutualInformation, adjustedRandIndex, clusterAccuracy, clusteringEval } from './cluster-metrics';
export type { ClusteringEvalOptions, ClusteringEvalResult } from './cluster-metrics';

export { collapseDiagnostics, collapseVerdict, rankMe, singularValuesOf, symmetricEigenvalues } from './collapse';
export type { CollapseDiagnostics, CollapseVerdict } from './collapse';

export { embeddingMap } from './embedding-map';
export type { EmbeddingMap, EmbeddingMapOptions } from './embedding-map';
export { greyImage, heatImage, imageGridPng } from './image-grid';
export type { GridImage, ImageGridOptions } from './image-grid';
export { lineChartPng } from './line-chart';
export type { ChartSeries, LineChartOptions } from './line-chart';

export { knnMonitor } from './knn-monitor';
export type { KnnMonitor, KnnMonitorOptions, MonitorEpochContext } from './knn-monitor';

export { featureCount, selectRows } from './feature-set';

export {
  EVALUATION_PROTOCOL,
  FIGURE_NAMES,
  compareWithControls,
  controlledFigures,
  formatControlledEvaluation,
  formatFigure,
  formatGain,
  imagesAsEncoderSees,
  pretrainAndCompare,
  randomInitControl,
} from './pretrain-and-compare';
export type {
  AppliedProtocol,
  CompareWithControlsOptions,
  ControlledEvaluation,
  ControlledFigure,
  ControlledRepresentation,
  FigureKey,
  PretrainAndCompareOptions,
  PretrainAndCompareResult,
  ProtocolScores,
} from './pretrain-and-compare';

export { classifierAccuracy, evaluateMethodClassifier, supervisedControlOf } from './method-classifier';
export type { ClassifierEvaluation, EvaluateMethodClassifierOptions } from './method-classifier';
export { evaluateHeldOutTask, formatHeldOutValue, heldOutMargin } from './held-out-task';
export { controlScoreKey } from './control-cache';
export type { ControlCache, ControlScoreStore } from './control-cache';

export {
  ACQUISITION_STRATEGIES,
  activeLearning,
  coveringRadius,
  entropyScores,
  kCenterGreedy,
  leastConfidenceScores,
  marginScores,
  softmaxRows,
  topScoring,
  voteEntropyScores,
} from './active-learning';
export type {
  AcquisitionStrategy,
  ActiveLearningOptions,
  ActiveLearningResult,
  ActiveLearningRound,
  LabelOracle,
  PoolFeatures,
} from './active-learning';

export { episodeSampler } from './episodes';
export type { Episode, EpisodeSamplerOptions } from './episodes';
export {
  adaptParameters,
  crossEntropyOfLogits,
  episodeLoss,
  episodeTensors,
  evaluateMaml,
  mamlEpisodeLoss,
  mamlLearner,
  mamlLogits,
  mamlMetaGradient,
  trainMaml,
} from './maml';
export type { EpisodeTensors, MamlLearner, MamlLoss, MamlStepOptions, MamlTrainOptions, MetaEvalOptions } from './maml';
export { evaluatePrototypical, prototypicalLogits, trainPrototypicalNetwork } from './prototypical-networks';
export type { PrototypicalTrainOptions } from './prototypical-networks';

export { combinedViewPolicy, encoderDistance, multiTask, resolveTasks } from './multi-task';
export type { MultiTaskConfig, MultiTaskEntry, MultiTaskPluginOptions, ResolvedTask, SoftSharingConfig } from './multi-task';

export { formatTransferTable, transferEval } from './transfer';
export type { TransferCandidate, TransferEvalOptions, TransferFineTune, TransferFineTuned, TransferRow } from './transfer';
