export * from './portable';
export {
  saveNetwork,
  loadNetwork,
  saveEncoder,
  loadEncoder,
  fileSystemIOHandler,
  MODEL_FILE,
  WEIGHTS_FILE,
  ENCODER_METADATA_KEY,
} from './io';
