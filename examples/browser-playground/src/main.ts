/**
 * The playground: pick a method, an encoder, a batch size and steps; train in this page on a slice of the
 * bundled Fashion-MNIST sample with a live loss curve and an online kNN accuracy beside the same encoder at
 * random init; see the method's augmented views and a 2-D map of held-out features; stop, reload, resume (the
 * run is kept in IndexedDB); download the trained encoder; load an encoder `ssl pretrain` trained in Node.
 *
 * What the workload is (plugins, encoders, data, kNN, encoder files) is shared with examples/browser-training,
 * whose tests measure it against Node. The page's state is published on `window.sslPlayground` for the test
 * that drives it.
 */
import * as tf from '@tensorflow/tfjs-core';
import { IndexedDbRunStore, createEncoder, initBackend, loadEncoderFrom, saveEncoderTo, train } from '@ssl/core';
import type { AnyEncoder, Encoder, EncoderSpec, ImageDataset, StepRecord, TrainResult } from '@ssl/core';
import { knnAccuracyOfFeatures, normalizedFeatures, pixelsOf } from '@ssl-examples/browser-training/knn';
import { drawLossCurve } from '@ssl-examples/browser-training/loss-curve';
import {
  PAGE_ENCODERS,
  defaultEncoderFor,
  encoderSpecFor,
  fetchSample,
  imageMethods,
  registry,
  trainDataFor,
} from '@ssl-examples/browser-training/workload';
import type { PageEncoder } from '@ssl-examples/browser-training/workload';
import type { PlaygroundState, RunSettings } from './state';
import { CLASS_COLOURS, FASHION_MNIST_CLASSES, drawEmbeddingMap, pca2 } from './embedding-map';
import { drawViews } from './views';

declare global {
  interface Window {
    sslPlayground: PlaygroundState;
  }
}

const TRAIN_IMAGES = 1024;
const TEST_IMAGES = 500;
/** Online kNN at the first epoch end at least this many steps after the previous one, and when the run ends. */
const KNN_EVERY = 16;
const CHECKPOINT_EVERY = 10;
const PROBE_IMAGES = 8;
const VIEW_IMAGES = 10;
const STORE_NAME = 'ssl-playground';
const SETTINGS_KEY = 'ssl-playground:settings';

const state: PlaygroundState = { status: 'loading', crossOriginIsolated: self.crossOriginIsolated, steps: 0, losses: [], knn: [] };
window.sslPlayground = state;

function element<T extends HTMLElement>(id: string): T {
  return document.getElementById(id) as T;
}
const ui = {
  method: element<HTMLSelectElement>('method'),
  encoder: element<HTMLSelectElement>('encoder'),
  batch: element<HTMLInputElement>('batch'),
  steps: element<HTMLInputElement>('steps'),
  start: element<HTMLButtonElement>('start'),
  stop: element<HTMLButtonElement>('stop'),
  resume: element<HTMLButtonElement>('resume'),
  download: element<HTMLButtonElement>('download'),
  files: element<HTMLInputElement>('files'),
  modelUrl: element<HTMLInputElement>('model-url'),
  load: element<HTMLButtonElement>('load'),
};

function show(id: string, text: string): void {
  element(id).textContent = text;
}

function setStatus(status: PlaygroundState['status'], text: string): void {
  state.status = status;
  show('status', text);
  const busy = status === 'training' || status === 'loading';
  ui.start.disabled = busy;
  ui.stop.disabled = status !== 'training';
  ui.resume.disabled = busy || state.savedStep === undefined || state.savedStep >= (state.settings?.steps ?? Infinity);
  ui.download.disabled = busy || held === undefined;
  ui.load.disabled = busy;
}

let sample: { train: ImageDataset; test: ImageDataset };
/** The encoder the page holds: the last run's, or a loaded one. */
let held: (Encoder & { readonly spec?: EncoderSpec }) | undefined;
let heldRun: TrainResult | undefined;
let controller: AbortController | undefined;

function settingsFromForm(): RunSettings {
  return {
    method: ui.method.value,
    encoder: ui.encoder.value as PageEncoder,
    batchSize: Number(ui.batch.value),
    steps: Number(ui.steps.value),
  };
}

function showSettings(settings: RunSettings): void {
  ui.method.value = settings.method;
  ui.encoder.value = settings.encoder;
  ui.batch.value = String(settings.batchSize);
  ui.steps.value = String(settings.steps);
}

function releaseHeld(): void {
  if (heldRun) heldRun.dispose();
  else held?.model.dispose();
  heldRun = undefined;
  held = undefined;
}

/** The held-out features of `encoder`, its kNN top-1 (the training slice votes) and its embedding map. */
async function evaluate(encoder: Encoder, map: 'map-random' | 'map-trained', caption: string): Promise<number> {
  const bank = normalizedFeatures(encoder, sample.train);
  const queries = normalizedFeatures(encoder, sample.test);
  const top1 = await knnAccuracyOfFeatures(bank, sample.train.labels!, queries, sample.test.labels!);
  const [rows, dim] = queries.shape;
  drawEmbeddingMap(element<HTMLCanvasElement>(map), pca2((await queries.data()) as Float32Array, rows, dim), sample.test.labels!);
  show(`${map}-caption`, `${caption}: kNN ${(100 * top1).toFixed(1)} %`);
  tf.dispose([bank, queries]);
  return top1;
}

async function publishProbeFeatures(encoder: Encoder): Promise<void> {
  const output = tf.tidy(() => encoder.features(pixelsOf(sample.test, 0, PROBE_IMAGES), { training: false }));
  state.probeFeatures = { shape: output.shape, values: Array.from(await output.data()) };
  output.dispose();
}

function drawKnnCurve(): void {
  const canvas = element<HTMLCanvasElement>('knn-curve');
  const context = canvas.getContext('2d')!;
  context.clearRect(0, 0, canvas.width, canvas.height);
  const last = Math.max(state.settings?.steps ?? 1, ...state.knn.map((point) => point.step));
  const x = (step: number) => 4 + (step / last) * (canvas.width - 8);
  const y = (top1: number) => canvas.height - 4 - top1 * (canvas.height - 8);
  context.strokeStyle = '#aaa';
  context.setLineDash([4, 4]);
  const randomInit = state.knn.find((point) => point.step === 0);
  if (randomInit) {
    context.beginPath();
    context.moveTo(x(0), y(randomInit.top1));
    context.lineTo(x(last), y(randomInit.top1));
    context.stroke();
  }
  context.setLineDash([]);
  context.strokeStyle = '#059669';
  context.lineWidth = 2;
  context.beginPath();
  state.knn.forEach((point, i) => (i === 0 ? context.moveTo(x(point.step), y(point.top1)) : context.lineTo(x(point.step), y(point.top1))));
  context.stroke();
  context.fillStyle = '#444';
  context.fillText('100 %', 6, 12);
  context.fillText('0 %', 6, canvas.height - 6);
}

function recordKnn(step: number, top1: number): void {
  state.knn = state.knn.filter((point) => point.step !== step).concat({ step, top1 });
  state.knn.sort((a, b) => a.step - b.step);
  const randomInit = state.knn.find((point) => point.step === 0)?.top1;
  const control = randomInit === undefined ? '' : ` (random init ${(100 * randomInit).toFixed(1)} %)`;
  show('knn', `${(100 * top1).toFixed(1)} % at step ${step}${control}; chance 10 %`);
  drawKnnCurve();
}

async function showViews(): Promise<void> {
  const settings = settingsFromForm();
  const canvas = element<HTMLCanvasElement>('views');
  try {
    const method = registry.create(settings.method as never);
    const { policy, views } = await drawViews(
      canvas,
      method,
      trainDataFor(settings.method, sample.train).data,
      encoderSpecFor(settings.method, settings.encoder),
      sample.test,
      VIEW_IMAGES,
    );
    state.views = { policy, rows: views };
    show('views-policy', `— ${settings.method}'s policy “${policy}”: originals, then ${views} view${views === 1 ? '' : 's'}`);
  } catch (error) {
    // A method that needs another encoder (MAE a ViT) says so here, before any training.
    show('views-policy', `— ${errorText(error)}`);
    canvas.getContext('2d')?.clearRect(0, 0, canvas.width, canvas.height);
  }
}

async function run(settings: RunSettings, resume: boolean): Promise<void> {
  releaseHeld();
  state.error = undefined;
  state.settings = settings;
  state.losses = [];
  state.knn = [];
  state.steps = 0;
  state.stepsPerSecond = undefined;
  state.resumedFromStep = undefined;
  showSettings(settings);
  setStatus('training', resume ? `resuming ${settings.method} from step ${state.savedStep}` : `starting ${settings.method}`);
  if (!resume) {
    await IndexedDbRunStore.remove(STORE_NAME);
    state.savedStep = undefined;
  }
  localStorage.setItem(SETTINGS_KEY, JSON.stringify(settings));
  const encoderSpec = encoderSpecFor(settings.method, settings.encoder);
  // Step 0: the same encoder at its random init (same spec and seed as the run's), the control for every later figure.
  const randomInit = createEncoder(encoderSpec);
  recordKnn(0, await evaluate(randomInit, 'map-random', 'random init'));
  randomInit.model.dispose();

  const { data, description } = trainDataFor(settings.method, sample.train);
  const store = await IndexedDbRunStore.open(STORE_NAME);
  controller = new AbortController();
  let firstStepEnded = 0;
  let stepsThisPage = 0;
  let knnMilliseconds = 0;
  let lastKnnStep = 0;
  const knnAt = async (encoder: Encoder, step: number) => {
    const started = performance.now();
    recordKnn(step, await evaluate(encoder, 'map-trained', `step ${step}`));
    lastKnnStep = step;
    knnMilliseconds += performance.now() - started;
  };
  const lossCurve = element<HTMLCanvasElement>('loss-curve');
  show('step', `0 / ${settings.steps}`);
  const result = await train({
    method: registry.create(settings.method as never),
    data,
    encoder: encoderSpec,
    // Enough epochs of the method's epoch pool (the labeled images for semi-supervised methods); maxSteps ends the run.
    epochs: 100_000,
    maxSteps: settings.steps,
    batchSize: settings.batchSize,
    seed: 0,
    store,
    resume,
    checkpointEvery: { steps: CHECKPOINT_EVERY },
    signal: controller.signal,
    callbacks: [
      {
        name: 'playground',
        onTrainStart: ({ startStep }) => {
          if (!resume) return;
          state.resumedFromStep = startStep;
          lastKnnStep = startStep;
          for (const record of store.metrics) if (record.type === 'step') state.losses[record.step as number] = record.loss as number;
          setStatus('training', `resumed ${settings.method} from step ${startStep}: ${description}, batch ${settings.batchSize}`);
        },
        onStepEnd: (record: StepRecord) => {
          if (firstStepEnded === 0) firstStepEnded = performance.now();
          else stepsThisPage += 1;
          state.steps = record.step + 1;
          state.losses[record.step] = record.loss;
          if (state.status === 'training' && record.step === (state.resumedFromStep ?? 0))
            show('status', `training ${settings.method} on ${description}, batch ${settings.batchSize}`);
          show('step', `${record.step + 1} / ${settings.steps}`);
          show('loss', record.loss.toFixed(4));
          drawLossCurve(lossCurve, state.losses);
          if (stepsThisPage > 0) {
            state.stepsPerSecond = stepsThisPage / ((performance.now() - firstStepEnded - knnMilliseconds) / 1000);
            show('speed', `${state.stepsPerSecond.toFixed(2)} steps/s (after the first step, kNN left out)`);
          }
        },
        onEpochEnd: async ({ encoder, step }) => {
          if (step - lastKnnStep >= KNN_EVERY) await knnAt(encoder, step);
        },
      },
    ],
  });
  controller = undefined;
  await store.flush();
  store.release();
  heldRun = result;
  held = result.encoder;
  if (lastKnnStep !== result.steps) await knnAt(result.encoder, result.steps);
  await publishProbeFeatures(result.encoder);
  state.savedStep = result.steps;
  if (result.interrupted)
    setStatus('stopped', `stopped at step ${result.steps}, kept in IndexedDB: Resume continues (also after a reload)`);
  else setStatus('done', `done: ${result.steps} steps of ${settings.method}`);
}

async function loadEncoder(): Promise<void> {
  const files = Array.from(ui.files.files ?? []);
  const modelJson = files.find((file) => file.name.endsWith('.json'));
  const url = ui.modelUrl.value.trim();
  if (!modelJson && url === '') throw new Error('Pick model.json and its weights file(s), or give the URL of a model.json.');
  releaseHeld();
  state.error = undefined;
  state.loaded = undefined;
  setStatus('loading', 'loading the encoder');
  const source = modelJson ? modelJson.name : url;
  let encoder: AnyEncoder;
  if (modelJson) encoder = await loadEncoderFrom(tf.io.browserFiles([modelJson, ...files.filter((file) => file !== modelJson)]));
  else encoder = await loadEncoderFrom(new URL(url, location.href).href);
  held = encoder;
  const top1 = await evaluate(encoder, 'map-trained', `loaded ${source}`);
  state.loaded = { source, kind: encoder.kind, featureDim: encoder.featureDim, knn: top1 };
  show('knn', `${(100 * top1).toFixed(1)} % for the loaded ${encoder.kind} encoder (${encoder.featureDim} features); chance 10 %`);
  await publishProbeFeatures(encoder);
  setStatus('ready', `loaded ${source}: a ${encoder.kind} encoder, ${encoder.featureDim} features`);
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function fail(error: unknown): void {
  controller = undefined;
  state.error = errorText(error);
  setStatus('failed', `failed: ${state.error}`);
  console.error(error);
}

async function main(): Promise<void> {
  // tfjs-backend-wasm's .wasm files are served under wasm/ (vite.config.ts).
  // `?threads=N` pins the wasm thread count (the default: every core when cross-origin isolated, else 1).
  const threads = new URLSearchParams(location.search).get('threads');
  const info = await initBackend({
    wasmPaths: new URL('wasm/', document.baseURI).href,
    ...(threads === null ? {} : { threads: Number(threads) }),
    log: () => undefined,
  });
  Object.assign(state, { backend: info.name, threads: info.threads, simd: info.simd });
  show(
    'backend',
    `${info.name}${info.simd ? ' SIMD' : ''}, ${info.threads} thread${info.threads === 1 ? '' : 's'} — ` +
      (self.crossOriginIsolated ? 'cross-origin isolated' : 'not cross-origin isolated (no wasm threads)'),
  );
  element('backend').title = info.reason;
  console.info(info.reason);
  sample = await fetchSample(new URL('data/', document.baseURI).href, TRAIN_IMAGES, TEST_IMAGES);

  for (const name of imageMethods()) ui.method.add(new Option(name, name));
  for (const name of PAGE_ENCODERS) ui.encoder.add(new Option(name, name));
  ui.method.value = 'contrastive:simclr';
  ui.encoder.value = defaultEncoderFor(ui.method.value);
  element('legend').innerHTML = FASHION_MNIST_CLASSES.map(
    (name, label) => `<span class="swatch" style="background:${CLASS_COLOURS[label]}"></span>${name}`,
  ).join('');

  // A run kept in IndexedDB (this page was reloaded or reopened): offer to resume it.
  const saved = localStorage.getItem(SETTINGS_KEY);
  if (saved !== null) {
    const store = await IndexedDbRunStore.open(STORE_NAME);
    const step = store.checkpointSteps.at(-1);
    store.release();
    if (step !== undefined) {
      state.settings = JSON.parse(saved) as RunSettings;
      state.savedStep = step;
      showSettings(state.settings);
    }
  }

  ui.method.addEventListener('change', () => {
    ui.encoder.value = defaultEncoderFor(ui.method.value);
    void showViews();
  });
  ui.encoder.addEventListener('change', () => void showViews());
  ui.start.addEventListener('click', () => void run(settingsFromForm(), false).catch(fail));
  ui.resume.addEventListener('click', () => void run(state.settings!, true).catch(fail));
  ui.stop.addEventListener('click', () => {
    controller?.abort();
    show('status', 'stopping after this step (a checkpoint is written first)');
  });
  ui.download.addEventListener('click', () => {
    if (held?.spec) void saveEncoderTo(held as Encoder & { spec: EncoderSpec }, 'downloads://model').catch(fail);
  });
  ui.load.addEventListener('click', () => void loadEncoder().catch(fail));

  await showViews();
  if (state.savedStep !== undefined)
    setStatus(
      'ready',
      `a ${state.settings!.method} run is kept in IndexedDB at step ${state.savedStep}: Resume continues it, Start begins anew`,
    );
  else setStatus('ready', 'ready: pick a method and Start');
}

main().catch(fail);
