import { definePlugin, supportedCoreRange } from '@ssl/core';
import type { Plugin } from '@ssl/core';
import packageJson from '../package.json';
import { rotation } from './rotation/rotation';

export { rotation, rotationBatch, rotationLoss, rotationHead, evaluateRotationAccuracy, NUM_ROTATIONS } from './rotation/rotation';
export type { RotationConfig, RotationHeadConfig } from './rotation/rotation';

const plugin = definePlugin({
  name: '@ssl/pretext',
  version: packageJson.version,
  family: 'pretext',
  core: supportedCoreRange(packageJson),
  methods: { rotation },
});

/**
 * The pretext-task plugin: `createRegistry().use(pretext())` registers `pretext:rotation` (RotNet).
 * Returns the same plugin object on every call, so registering it twice is a no-op.
 */
export default function pretext(): Plugin {
  return plugin;
}
