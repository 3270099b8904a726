import { definePlugin, supportedCoreRange } from '@ssl/core';
import type { Plugin } from '@ssl/core';
import packageJson from '../../package.json';
import { clip as clipMethod } from './clip';
import { audioVisual } from '../audio-visual/audio-visual';
import { imageAudioData } from '../audio-visual/image-audio-data';
import { mixAndSeparate } from '../mix-and-separate/mix-and-separate';
import { audioText } from '../any-pair/audio-text';
import { pairData } from '../any-pair/pair-data';

const plugin = definePlugin({
  name: '@ssl/clip',
  version: packageJson.version,
  family: 'clip',
  core: supportedCoreRange(packageJson),
  methods: { clip: clipMethod, 'audio-visual': audioVisual, 'mix-and-separate': mixAndSeparate, 'audio-text': audioText },
  dataKinds: { 'image-audio': imageAudioData, 'modality-pairs': pairData },
});

/** The @ssl/clip plugin: `createRegistry().use(clipPlugin())` registers 'clip:clip', 'clip:audio-visual', 'clip:mix-and-separate' and 'clip:audio-text' (with their 'image-audio' and 'modality-pairs' data kinds). */
export function clipPlugin(): Plugin {
  return plugin;
}
