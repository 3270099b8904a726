import { SslError, train } from '@ssl/core';
import type { MethodClassifier, MethodHandle, TrainOptions, TrainResult } from '@ssl/core';
import { extractFeatures } from './extract-features';
import type { LabeledImageDataset } from './types';

/** The method's own classifier on the test set, beside its control (see MethodClassifier). */
export interface ClassifierEvaluation {
  /** e.g. 'classifier top-1 (EMA model)' or 'zero-shot top-1 (prompts from class names)'. */
  description: string;
  /** Top-1 on the test set, a fraction in [0, 1]. */
  accuracy: number;
  /** What the figure is compared with; absent when the supervised-only control was not trained. */
  control?: { name: 'supervised-only' | 'chance'; accuracy: number };
}

/** Test labels' class names (prompts are written from them), or the class indices when the data names none. */
function classNamesOf(test: LabeledImageDataset): readonly string[] {
  const count = test.classNames?.length ?? test.numClasses ?? Math.max(-1, ...(test.labels ?? [])) + 1;
  return test.classNames ?? Array.from({ length: count }, (_, i) => String(i));
}

/** Top-1 of a method's classifier on labeled images, in inference mode, batch by batch. */
export async function classifierAccuracy(classifier: MethodClassifier, test: LabeledImageDataset, batchSize = 256): Promise<number> {
  if (!test.labels) throw new SslError('data', `${test.name ?? 'the test set'} has no labels to score the method's classifier on.`);
  const classNames = classNamesOf(test);
  const scores = await extractFeatures({ features: (images) => classifier.probabilities(images as never, classNames) }, test, {
    batchSize,
  });
  let correct = 0;
  for (let row = 0; row < test.size; row++) {
    const offset = row * scores.dim;
    let best = 0;
    for (let k = 1; k < scores.dim; k++) if (scores.features[offset + k] > scores.features[offset + best]) best = k;
    if (best === test.labels[row]) correct++;
  }
  return correct / test.size;
}

/** The same method with its supervised-only config (its unlabeled weight at 0), or undefined when it declares none. */
export function supervisedControlOf(method: MethodHandle): MethodHandle | undefined {
  const controlConfig = method.definition.supervisedControl?.(method.config);
  return controlConfig === undefined ? undefined : { ...method, config: controlConfig };
}

export interface EvaluateMethodClassifierOptions {
  run: TrainResult;
  test: LabeledImageDataset;
  /**
   * The run's training options, to train the supervised-only control with the same labels, encoder spec,
   * seed and steps (no run directory: the control is not saved). Without them a 'supervised-only' control is
   * not trained and the figure stands alone.
   */
  controlTraining?: TrainOptions;
  /** Called before the supervised-only control starts training. */
  onControlTraining?: () => void;
  batchSize?: number;
}

/**
 * Scores the run's own classifier (when its method trains one) and its control: chance, or the method's
 * supervised-only ablation trained on the same labels for the same steps.
 */
export async function evaluateMethodClassifier(options: EvaluateMethodClassifierOptions): Promise<ClassifierEvaluation | undefined> {
  const classifier = options.run.runtime.classifier;
  if (!classifier) return undefined;
  const accuracy = await classifierAccuracy(classifier, options.test, options.batchSize);
  const evaluation: ClassifierEvaluation = { description: classifier.description, accuracy };
  if (classifier.control === 'chance') {
    evaluation.control = { name: 'chance', accuracy: 1 / classNamesOf(options.test).length };
  } else if (options.controlTraining) {
    const control = supervisedControlOf(options.controlTraining.method);
    if (!control) return evaluation;
    options.onControlTraining?.();
    const controlAccuracy = await trainSupervisedControl({ ...options.controlTraining, method: control }, options.test, options.batchSize);
    if (controlAccuracy !== undefined) evaluation.control = { name: 'supervised-only', accuracy: controlAccuracy };
  }
  return evaluation;
}

/** Trains the supervised-only ablation (`training.method` is already its handle) without a run directory, and scores it. */
async function trainSupervisedControl(training: TrainOptions, test: LabeledImageDataset, batchSize?: number): Promise<number | undefined> {
  const { outDir: _outDir, resume: _resume, extend: _extend, callbacks: _callbacks, invocation: _invocation, ...shared } = training;
  const run = await train(shared);
  try {
    const classifier = run.runtime.classifier;
    if (run.interrupted || !classifier) return undefined;
    return await classifierAccuracy(classifier, test, batchSize);
  } finally {
    run.dispose();
  }
}
