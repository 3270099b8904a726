import { definePlugin, supportedCoreRange } from '@ssl/core';
import type { Plugin } from '@ssl/core';
import packageJson from '../../package.json';
import { clip as clipMethod } from './clip';
import { audioVisual } from '../audio-visual/audio-visual';
import { imageAudioData } from '../audio-visual/image-audio-data';

const plugin = definePlugin({
  name: '@ssl/clip',
  version: packageJson.version,
  family: 'clip',
  core: supportedCoreRange(packageJson),
  methods: { clip: clipMethod, 'audio-visual': audioVisual },
  dataKinds: { 'image-audio': imageAudioData },
});

/** The @ssl/clip plugin: `createRegistry().use(clipPlugin())` registers 'clip:clip' and 'clip:audio-visual' (with its 'image-audio' data kind). */
export function clipPlugin(): Plugin {
  return plugin;
}
