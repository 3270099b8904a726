export { negativeCosineSimilarity } from './losses/negative-cosine-similarity';
export { byolLoss } from './losses/byol';
export { barlowTwinsLoss } from './losses/barlow-twins';
export type { BarlowTwinsOptions } from './losses/barlow-twins';
export { vicregLoss } from './losses/vicreg';
export type { VicregOptions } from './losses/vicreg';
export { dinoLoss, updateDinoCenter } from './losses/dino';
export type { DinoLossOptions, DinoCenterOptions } from './losses/dino';
export { sinkhornKnopp } from './losses/sinkhorn-knopp';
export type { SinkhornKnoppOptions } from './losses/sinkhorn-knopp';

export { byol, byolMomentum, normalizedStd, BYOL_FASHION_VIEWS } from './byol/byol';
export type { BYOLConfig } from './byol/byol';
export { byolViews } from './views/byol-views';
export type { ByolViewOptions } from './views/byol-views';
export { multiCrop } from './views/multi-crop';
export type { MultiCropOptions } from './views/multi-crop';
export { default } from './byol/plugin';
