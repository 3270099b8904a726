export {
  sampleCropBoxes,
  cropAndResizeBoxes,
  randomResizedCrop,
  flipImages,
  horizontalFlip,
  rotate90Images,
  rotate90,
  affineImages,
  rotationMap,
  shearMap,
  translationMap,
  rotate,
  translateReflect,
  sampleCutoutBoxes,
  applyCutout,
  cutout,
} from './geometric';
export type { CropBox, CutoutBox, AffineToInput, RandomResizedCropOptions } from './geometric';
export {
  adjustBrightness,
  adjustContrast,
  adjustSaturation,
  adjustHue,
  adjustSharpness,
  rgbToHsv,
  hsvToRgb,
  colorJitter,
  randomGrayscale,
  defaultBlurKernelSize,
  gaussianBlurImages,
  gaussianBlur,
  solarizeImages,
  solarize,
  posterizeImages,
  autoContrast,
  equalize,
  normalize,
  mixup,
  sampleMixupLambda,
} from './color';
export type { ColorJitterOptions } from './color';
export {
  RAND_AUGMENT_OPS,
  TORCHVISION_TRANSLATE_FRACTION,
  sampleRandAugment,
  applyRandAugment,
  applyRandAugmentOp,
  randAugment,
} from './rand-augment';
export type { RandAugmentOpName, RandAugmentChoice, RandAugmentOptions } from './rand-augment';
export { applyViews, applyOp } from './policies';
export type { AugmentOpSpec, ViewSpec, ViewPolicy } from './policies';
export {
  defineViewPolicy,
  checkPolicyOptions,
  createViewPolicy,
  colorJitterOp,
  cropFlip,
  weak,
  weakOps,
  none,
  CORE_VIEW_POLICIES,
  findViewPolicy,
  listViewPolicies,
  viewPolicy,
  checkViewPolicyOptions,
} from './view-policy';
export type { ViewPolicyDefinition, OptionRule, CropFlipOptions, WeakOptions, NoneOptions } from './view-policy';
export {
  LAB_AB_EXTENT,
  abSquaredDistances,
  labToRgb,
  labToRgbPixel,
  mixChannels,
  nearestAbBin,
  rgbToLab,
  rgbToLabPixel,
  srgbGamutBins,
} from './lab';
