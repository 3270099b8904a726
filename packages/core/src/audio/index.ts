export * from './portable';
export { loadSpokenClasses, SPOKEN_CLASSES_FILES } from './spoken-classes';
export type { AudioDataset, LoadSpokenClassesOptions } from './spoken-classes';
