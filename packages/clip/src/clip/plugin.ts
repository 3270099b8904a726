import { definePlugin, supportedCoreRange } from '@ssl/core';
import type { Plugin } from '@ssl/core';
import packageJson from '../../package.json';
import { clip as clipMethod } from './clip';
import { audioVisual } from '../audio-visual/audio-visual';
import { imageAudioData } from '../audio-visual/image-audio-data';
import { mixAndSeparate } from '../mix-and-separate/mix-and-separate';

const plugin = definePlugin({
  name: '@ssl/clip',
  version: packageJson.version,
  family: 'clip',
  core: supportedCoreRange(packageJson),
  methods: { clip: clipMethod, 'audio-visual': audioVisual, 'mix-and-separate': mixAndSeparate },
  dataKinds: { 'image-audio': imageAudioData },
});

/** The @ssl/clip plugin: `createRegistry().use(clipPlugin())` registers 'clip:clip', 'clip:audio-visual' and 'clip:mix-and-separate' (with their 'image-audio' data kind). */
export function clipPlugin(): Plugin {
  return plugin;
}
