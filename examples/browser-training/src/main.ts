/**
 * Trains a self-supervised method in the page on a slice of the bundled Fashion-MNIST sample, with a live
 * loss and an online kNN accuracy (the encoder's features of labeled training images vote for the classes of
 * held-out test images). Settings come from the query string: `?method=contrastive:simclr&steps=60&batch=64`.
 * The state of the run is published on `window.sslRun` for the test that drives the page.
 *
 * `?encoder=<url of a model.json>` instead loads an encoder a Node run saved and publishes its features of
 * the first `features` (64) test images on `window.sslFeatures`, to compare with Node's.
 */
import * as tf from '@tensorflow/tfjs-core';
import { IndexedDbRunStore, MemoryRunStore, createEncoder, initBackend, loadEncoderFrom, train } from '@ssl/core';
import type { BackendName, Encoder, ImageDataset, StepRecord } from '@ssl/core';
import { knnAccuracy, pixelsOf } from './knn';
import { drawLossCurve } from './loss-curve';
import { encoderSpecFor, fetchSample, registry, trainDataFor } from './workload';

interface RunReport {
  status: 'starting' | 'training' | 'done' | 'failed';
  backend?: string;
  method: string;
  steps: number;
  losses: number[];
  knn: { step: number; top1: number }[];
  stepsPerSecond?: number;
  /** The step a run kept in IndexedDB resumed from after a reload. */
  resumedFromStep?: number;
  error?: string;
}

interface FeaturesReport {
  status: 'starting' | 'done' | 'failed';
  backend?: string;
  /** [images, feature dimension] and the features, row-major. */
  shape?: number[];
  values?: number[];
  error?: string;
}

declare global {
  interface Window {
    sslRun: RunReport;
    sslFeatures: FeaturesReport;
  }
}

const query = new URLSearchParams(location.search);
const methodName = query.get('method') ?? 'contrastive:simclr';
const steps = Number(query.get('steps') ?? 60);
const batchSize = Number(query.get('batch') ?? 64);
const trainImages = Number(query.get('train') ?? 1024);
const testImages = Number(query.get('test') ?? 500);
const backend = (query.get('backend') ?? undefined) as BackendName | undefined;
/**
 * `store=indexeddb` keeps the run in the page's IndexedDB, checkpointed every `checkpointEvery` steps (default
 * 10): reloading the page resumes it from the newest checkpoint; `fresh` starts it over.
 */
const persistent = query.get('store') === 'indexeddb';
const checkpointEvery = Number(query.get('checkpointEvery') ?? 10);
const STORE_NAME = `ssl-browser-training:${methodName}`;

const report: RunReport = { status: 'starting', method: methodName, steps: 0, losses: [], knn: [] };
window.sslRun = report;

const encoderSpec = encoderSpecFor(methodName);
/**
 * Online kNN at the first epoch end at least `knnEvery` (16) steps after the previous measurement, and at the
 * end; a large value keeps only the random-init and final measurements (the test's choice: a ViT's kNN costs
 * as much as a dozen steps).
 */
const knnEvery = Number(query.get('knnEvery') ?? 16);

function show(id: string, text: string): void {
  const element = document.getElementById(id);
  if (element) element.textContent = text;
}

/** Online kNN accuracy of `encoder`; returns the milliseconds it took, which the speed figure leaves out. */
async function measureKnn(encoder: Encoder, bank: ImageDataset, queries: ImageDataset, step: number): Promise<number> {
  const started = performance.now();
  const top1 = await knnAccuracy(encoder, bank, queries);
  report.knn.push({ step, top1 });
  show('knn', `${(100 * top1).toFixed(1)} % at step ${step} (chance 10 %)`);
  return performance.now() - started;
}

async function startBackend(): Promise<string> {
  // tfjs-backend-wasm's .wasm files are served next to the page (build.ts copies them).
  const info = await initBackend({ backend, wasmPaths: new URL('./', location.href).href, log: (line) => show('backend', line) });
  return `${info.name}${info.simd ? ' SIMD' : ''}, ${info.threads} thread${info.threads === 1 ? '' : 's'}`;
}

/** Features of the first `count` test images (bytes / 255, inference mode) by the encoder at `modelJsonUrl`. */
async function nodeEncoderFeatures(modelJsonUrl: string, count: number): Promise<void> {
  const features: FeaturesReport = { status: 'starting' };
  window.sslFeatures = features;
  features.backend = await startBackend();
  show('status', `features of ${count} test images by ${modelJsonUrl}`);
  const { test: testSet } = await fetchSample('data/', 0, count);
  const encoder = await loadEncoderFrom(new URL(modelJsonUrl, location.href).href);
  const output = tf.tidy(() => encoder.features(pixelsOf(testSet, 0, count), { training: false }));
  features.shape = output.shape;
  features.values = Array.from(await output.data());
  output.dispose();
  encoder.model.dispose();
  features.status = 'done';
  show('status', 'done');
}

async function main(): Promise<void> {
  report.backend = await startBackend();
  const { train: slice, test: queries } = await fetchSample('data/', trainImages, testImages);
  // Step 0: the same encoder at its random init (same spec and seed as the run's), the control for every later figure.
  const randomInit = createEncoder(encoderSpec);
  await measureKnn(randomInit, slice, queries, 0);
  randomInit.model.dispose();
  const { data, description } = trainDataFor(methodName, slice);
  report.status = 'training';
  show('status', `training ${methodName} on ${description}, batch ${batchSize}`);
  let store = new MemoryRunStore();
  let resume = false;
  if (persistent) {
    if (query.has('fresh')) await IndexedDbRunStore.remove(STORE_NAME);
    const saved = await IndexedDbRunStore.open(STORE_NAME);
    resume = saved.checkpointSteps.length > 0;
    store = saved;
  }
  const started = performance.now();
  let firstStepEnded = 0;
  let stepsThisPage = 0;
  let knnMilliseconds = 0;
  const result = await train({
    method: registry.create(methodName as never),
    data,
    encoder: encoderSpec,
    // Enough epochs of the method's epoch pool (the labeled images for semi-supervised methods); maxSteps ends the run.
    epochs: 100_000,
    maxSteps: steps,
    batchSize,
    seed: 0,
    store,
    resume,
    ...(persistent ? { checkpointEvery: { steps: checkpointEvery } } : {}),
    callbacks: [
      {
        name: 'page',
        onTrainStart: ({ startStep }) => {
          if (!resume) return;
          report.resumedFromStep = startStep;
          // The steps before the checkpoint, as the store kept them.
          for (const record of store.metrics) if (record.type === 'step') report.losses[record.step as number] = record.loss as number;
        },
        onStepEnd: async (record: StepRecord) => {
          if (firstStepEnded === 0) firstStepEnded = performance.now();
          stepsThisPage += 1;
          report.steps = record.step + 1;
          // After a resume, losses[step] is still the loss of that step (the earlier ones are the saved run's).
          report.losses[record.step] = record.loss;
          show('step', `${record.step + 1} / ${steps}`);
          show('loss', record.loss.toFixed(4));
          const canvas = document.getElementById('loss-curve');
          if (canvas instanceof HTMLCanvasElement) drawLossCurve(canvas, report.losses);
        },
        onEpochEnd: async ({ encoder, step }) => {
          if (step - report.knn.at(-1)!.step >= knnEvery) knnMilliseconds += await measureKnn(encoder, slice, queries, step);
        },
      },
    ],
  });
  const ended = performance.now();
  // Steps per second after the first step (which compiles kernels and shaders), kNN evaluations left out.
  report.stepsPerSecond = (stepsThisPage - 1) / ((ended - firstStepEnded - knnMilliseconds) / 1000);
  if (report.knn.at(-1)?.step !== report.steps) await measureKnn(result.encoder, slice, queries, report.steps);
  result.dispose();
  show('speed', `${report.stepsPerSecond.toFixed(2)} steps/s (${((ended - started) / 1000).toFixed(1)} s in all)`);
  report.status = 'done';
  show('status', 'done');
}

const encoderUrl = query.get('encoder');
(encoderUrl === null ? main() : nodeEncoderFeatures(encoderUrl, Number(query.get('features') ?? 64))).catch((error: unknown) => {
  const failed = encoderUrl === null ? report : (window.sslFeatures ??= { status: 'failed' });
  failed.status = 'failed';
  failed.error = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  show('status', `failed: ${failed.error}`);
  console.error(error);
});
