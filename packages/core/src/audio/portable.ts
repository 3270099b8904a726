// Audio that runs anywhere (no Node built-ins); index.ts adds the loader of the bundled speech files.
export { parseWav, encodeWav, resample, encodeMuLaw, decodeMuLaw } from './wav';
export type { AudioClip } from './wav';
export { logMelSpectrogram, framedDft, melFilterbank, hzToMel, melToHz, frameCount, resolveLogMelOptions } from './log-mel';
export type { LogMelOptions, ResolvedLogMelOptions } from './log-mel';
export { SPOKEN_CLASS_TEXTS, SPEECH_VOICES } from './speech-texts';
export type { SpeechVoice } from './speech-texts';
