import { definePlugin, supportedCoreRange } from '@ssl/core';
import type { Plugin } from '@ssl/core';
import packageJson from '../package.json';
import { fixmatch } from './fixmatch/fixmatch';
import { flexmatch } from './flexmatch/flexmatch';
import { freematch } from './freematch/freematch';
import { mixmatch } from './mixmatch/mixmatch';
import { vat } from './vat/vat';
import { coTraining } from './co-training/co-training';
import { noisyStudent } from './noisy-student/noisy-student';
import { dataDistillation } from './data-distillation/data-distillation';
import { entropyMin } from './entropy-min/entropy-min';
import { meanTeacher } from './mean-teacher/mean-teacher';
import { piModel } from './pi-model/pi-model';
import { pseudoLabel } from './pseudo-label/pseudo-label';
import { selfTraining } from './self-training/self-training';
import { temporalEnsembling } from './temporal-ensembling/temporal-ensembling';
import { weakPair } from './views/weak-pair';
import { weakStrong } from './views/weak-strong';
import { weakViews } from './views/weak-views';

const plugin = definePlugin({
  name: '@ssl/semisup',
  version: packageJson.version,
  family: 'semisup',
  core: supportedCoreRange(packageJson),
  methods: {
    fixmatch,
    'pseudo-label': pseudoLabel,
    'mean-teacher': meanTeacher,
    'pi-model': piModel,
    'temporal-ensembling': temporalEnsembling,
    'self-training': selfTraining,
    'entropy-min': entropyMin,
    flexmatch,
    freematch,
    mixmatch,
    vat,
    'co-training': coTraining,
    'noisy-student': noisyStudent,
    'data-distillation': dataDistillation,
  },
  viewPolicies: { weakStrong, weakPair, weakViews },
});

/** The @ssl/semisup plugin: `createRegistry().use(semisup())` registers every 'semisup:*' method. */
export function semisup(): Plugin {
  return plugin;
}
