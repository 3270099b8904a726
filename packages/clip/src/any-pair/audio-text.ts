import { SslError, invalidConfig, requirePositiveInteger } from '@ssl/core';
import type { HeldOutFigure, LoadedRun } from '@ssl/core';
import { DEFAULT_AUDIO_OPTIONS, audioModality, textModality } from './modality';
import type { AudioModalityOptions, TextModalityOptions } from './modality';
import { PAIR_CONTRASTIVE_DEFAULTS, pairContrastive, pairHeldOutFigures, pairModelFromRun } from './pair-contrastive';
import type { PairContrastiveConfig, PairModel } from './pair-contrastive';
import { asPairData } from './pair-data';
import type { PairData } from './pair-data';

/** clip:audio-text: CLIP's fields plus the sizes of its two towers. */
export interface AudioTextConfig extends PairContrastiveConfig {
  /** The audio tower: audio-visual's CNN over standardised log-mel spectrograms of the clips. */
  audio: AudioModalityOptions;
  /** The text tower: clip:clip's transformer, sized for short phrases. */
  text: TextModalityOptions;
}

declare module '@ssl/core' {
  interface MethodConfigs {
    'clip:audio-text': AudioTextConfig;
  }
}

export const AUDIO_TEXT_DEFAULTS: AudioTextConfig = {
  ...PAIR_CONTRASTIVE_DEFAULTS,
  audio: { ...DEFAULT_AUDIO_OPTIONS },
  text: { embedDim: 32, depth: 1, numHeads: 2, maxLength: 8, mlpRatio: 2, vocabLimit: 500, causal: true },
};

function validateAudioText(config: AudioTextConfig): void {
  const { audio, text } = config;
  if (typeof audio !== 'object' || audio === null) invalidConfig('audio', audio, 'an object { sampleRate, clipSamples, melBins, ... }');
  for (const field of ['sampleRate', 'clipSamples', 'melBins'] as const) requirePositiveInteger(`audio.${field}`, audio[field]);
  if (!Array.isArray(audio.channels) || audio.channels.length === 0)
    invalidConfig('audio.channels', audio.channels, 'a non-empty array of channel counts');
  audio.channels.forEach((channels, i) => requirePositiveInteger(`audio.channels[${i}]`, channels));
  if (!(audio.frameStepSeconds > 0 && audio.frameStepSeconds * audio.sampleRate >= 1))
    invalidConfig('audio.frameStepSeconds', audio.frameStepSeconds, 'a positive duration of at least one sample');
  if (typeof text !== 'object' || text === null)
    invalidConfig('text', text, 'an object { embedDim, depth, numHeads, maxLength, mlpRatio, vocabLimit }');
  for (const field of ['embedDim', 'depth', 'numHeads', 'maxLength', 'vocabLimit'] as const)
    requirePositiveInteger(`text.${field}`, text[field]);
  if (text.embedDim % text.numHeads !== 0) invalidConfig('text.numHeads', text.numHeads, `a divisor of text.embedDim = ${text.embedDim}`);
}

/** The two sides of clip:audio-text for a config. */
export function audioTextModalities(config: Pick<AudioTextConfig, 'audio' | 'text'>) {
  return { first: audioModality(config.audio), second: textModality(config.text) };
}

/** The distinct texts of each class among `pairs` (the spoken class name and its description): the zero-shot prompts. */
export function classPrompts(pairs: PairData<unknown, string>): string[][] {
  const classes = pairs.classNames?.length ?? Math.max(...(pairs.labels ?? [0])) + 1;
  const prompts: string[][] = Array.from({ length: classes }, () => []);
  pairs.second.forEach((text, i) => {
    const label = pairs.labels?.[i];
    if (label !== undefined && !prompts[label].includes(text)) prompts[label].push(text);
  });
  return prompts;
}

/**
 * Held-out task of clip:audio-text: on clips of a voice never heard (loadSpokenClasses({ split: 'test' })), audio→text
 * and text→audio recall@1 among the held-out pairs (each text spoken once: chance 1/20), and zero-shot classification
 * of the clips by the class of their nearest text (its name or its description; chance 1/10).
 */
export async function audioTextHeldOutTask(model: PairModel<Float32Array, string>, heldOut: unknown): Promise<HeldOutFigure[]> {
  const pairs = asPairData(heldOut, 'clip:audio-text') as PairData<Float32Array, string>;
  const prompts = pairs.labels ? classPrompts(pairs) : undefined;
  return pairHeldOutFigures(model, pairs, {
    names: ['audio', 'text'],
    // A class name and its description were trained as different pairs (negatives of each other): their mean lies
    // near neither, so a clip takes the class of its nearest text (measured: 30-35% with the mean, see the README).
    pool: 'nearest',
    ...(prompts && prompts.every((p) => p.length > 0) ? { prompts } : {}),
  });
}

/**
 * clip:audio-text — CLIP between spoken clips and their written words: each clip of the spoken-classes data
 * (espeak-ng voices saying a Fashion-MNIST class name or a description of it) against the text it says. The
 * voices vary; the words do not, so the five clips of one text are one group (each other's positives).
 */
export const audioText = pairContrastive<Float32Array, string, AudioTextConfig>({
  name: 'audio-text',
  description: "contrastive audio–text pretraining: spoken clips against their written words (CLIP's symmetric loss)",
  first: (config) => audioModality(config.audio),
  second: (config) => textModality(config.text),
  defaults: AUDIO_TEXT_DEFAULTS,
  validate: validateAudioText,
  training: {
    optimizer: { kind: 'adamw', lr: 2e-3, beta1: 0.9, beta2: 0.98, epsilon: 1e-6, weightDecay: 0.1 },
    schedule: { kind: 'warmup-cosine', warmupFraction: 0.05 },
    batchSize: 32,
    epochs: 40,
  },
  heldOutTask: (model, heldOut) => audioTextHeldOutTask(model, heldOut),
});

/** The audio–text model of a finished clip:audio-text run (`loadRun(outDir)`): both towers, projections, tokenizer. */
export function audioTextModelFromRun(run: LoadedRun): PairModel<Float32Array, string> {
  if (run.method !== 'clip:audio-text') throw new SslError('io', `${run.dir} is a ${run.method} run, not a clip:audio-text run.`);
  const config = { ...AUDIO_TEXT_DEFAULTS, ...(run.config.config as unknown as Partial<AudioTextConfig>) };
  return pairModelFromRun(run, audioTextModalities(config));
}
