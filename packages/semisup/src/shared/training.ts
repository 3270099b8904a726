import type { TrainingDefaults } from '@ssl/core';

/**
 * The training defaults this package's classifiers share, FixMatch's (Sohn et al. 2020): SGD with Nesterov
 * momentum 0.9, lr 0.03, weight decay 5e-4, cosine decay to 20% of the base lr, labeled batch 64. One recipe
 * for every method, so their comparisons differ only in the unlabeled term.
 */
export const SEMISUP_TRAINING: TrainingDefaults = {
  optimizer: { kind: 'sgd', lr: 0.03, momentum: 0.9, nesterov: true, weightDecay: 5e-4 },
  schedule: { kind: 'warmup-cosine', warmupFraction: 0, finalLrFraction: 0.2 },
  batchSize: 64,
  epochs: 10,
};
