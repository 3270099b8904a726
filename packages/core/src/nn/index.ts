export * from './portable';
export { saveNetwork, loadNetwork, saveEncoder, loadEncoder, fileSystemIOHandler, MODEL_FILE, WEIGHTS_FILE } from './io';
