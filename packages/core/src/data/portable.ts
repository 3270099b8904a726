// What data/ exports that runs anywhere (Node, a web page, a worker); index.ts adds the Node-only parts.
export { imageDataset, imageTextDataset, makeDataset, subset, isImageTextDataset } from './dataset';
export type { ImageDataset, ImageTextDataset, ImageDatasetInit } from './dataset';
export { trainTestSplit, labeledSplit } from './splits';
export { parseColorBitmapFont } from './color-font';
export type { ColorBitmapFont } from './color-font';
export { BatchLoader, epochOrder, batchesPerEpoch, gatherBatch, gatherHostBatch, hostBatchToTensors } from './batches';
export type { TensorBatch, HostBatch, BatchLoaderOptions } from './batches';
export { fetchIdx, fetchIdxArray } from './idx-fetch';
export type { IdxArray, LoadIdxOptions } from './idx-format';
export { textData, textCorpus, isTextCorpus, fortuneSentences } from './text';
export type { TextBatch, TextCorpus } from './text';
