/**
 * A test double for the TensorFlow backends, which cannot run here (no libtensorflow, no GPU): fake
 * `@tensorflow/tfjs-node` and `@tensorflow/tfjs-node-gpu` packages, installed in a temporary project, whose
 * import registers a backend named 'tensorflow' as the real ones do — here the reference `cpu` backend's
 * kernels under that name — and a fake `nvidia-smi` that lists a GPU. With them:
 *   - `initBackend` picks tfjs-node-gpu over tfjs-node over wasm, loading only the package it picks;
 *   - methods of the repository train on that backend, so none of them depends on a kernel only wasm has
 *     (our fused batch norm and GELU kernels are wasm-only: the layers must fall back to plain ops), and
 *     every kernel those steps run exists on wasm too (tfjs-backend-wasm's own or one `registerWasmTrainingKernels` adds).
 * Each selection needs a fresh `select` module (initBackend selects once per process), hence
 * `vi.resetModules()`; the wasm fallback runs last, as it is the only selection that initializes wasm.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

import * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import '../setup';
import type { Plugin } from '../registry/index';
import type { BackendInfo, InitBackendOptions } from './select';

const FAKE = 'tensorflow';
const loaded: string[] = [];

/** What the fake packages call when imported: record the load and register the 'tensorflow' backend once. */
(globalThis as { __sslFakeTensorflow?: (name: string) => void }).__sslFakeTensorflow = (name: string) => {
  loaded.push(name);
  if (tf.findBackendFactory(FAKE)) return;
  tf.registerBackend(FAKE, () => new MathBackendCPU());
  for (const kernel of tf.getKernelsForBackend('cpu')) tf.registerKernel({ ...kernel, backendName: FAKE });
};

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ssl-fake-tensorflow-'));
const savedCwd = process.cwd();
const savedEnv = { PATH: process.env.PATH, SSL_BACKEND: process.env.SSL_BACKEND };

/** A project directory with the given fake packages installed (each either registering the backend or failing to load). */
function fakeProject(name: string, packages: Record<string, 'works' | 'broken'>): string {
  const project = path.join(root, name);
  fs.mkdirSync(project, { recursive: true });
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name, private: true }));
  for (const [packageName, state] of Object.entries(packages)) {
    const directory = path.join(project, 'node_modules', packageName);
    fs.mkdirSync(directory, { recursive: true });
    fs.writeFileSync(path.join(directory, 'package.json'), JSON.stringify({ name: packageName, version: '4.22.0', main: 'index.js' }));
    const body =
      state === 'works'
        ? `globalThis.__sslFakeTensorflow(${JSON.stringify(packageName)});\n`
        : `throw new Error('libtensorflow.so.2: cannot open shared object file');\n`;
    fs.writeFileSync(path.join(directory, 'index.js'), body);
  }
  return project;
}

/** A PATH directory holding an `nvidia-smi` that lists one GPU. */
function fakeGpuTools(): string {
  const bin = path.join(root, 'gpu-bin');
  fs.mkdirSync(bin, { recursive: true });
  fs.writeFileSync(path.join(bin, 'nvidia-smi'), '#!/bin/sh\necho "GPU 0: Fake GPU (UUID: GPU-00000000-0000-0000-0000-000000000000)"\n', {
    mode: 0o755,
  });
  return bin;
}

/** initBackend of a fresh select module, run from `project` (optional peers resolve from the working directory too). */
async function selectFrom(project: string, options: { gpu: boolean }): Promise<{ info: BackendInfo; loaded: string[] }> {
  vi.resetModules();
  loaded.length = 0;
  delete process.env.SSL_BACKEND;
  process.env.PATH = options.gpu ? `${fakeGpuTools()}${path.delimiter}${savedEnv.PATH ?? ''}` : '/nonexistent';
  process.chdir(project);
  try {
    const { initBackend } = (await import('./select')) as { initBackend: (options?: InitBackendOptions) => Promise<BackendInfo> };
    const info = await initBackend({ log: () => {} });
    return { info, loaded: [...loaded] };
  } finally {
    process.chdir(savedCwd);
    process.env.PATH = savedEnv.PATH;
  }
}

// The double only makes sense where the real packages are absent and no GPU is visible.
const realTensorflowHere = ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'].some((name) => {
  try {
    return typeof import.meta.resolve(name) === 'string';
  } catch {
    return false;
  }
});

describe.skipIf(realTensorflowHere || fs.existsSync('/dev/nvidia0'))('initBackend with fake TensorFlow packages', () => {
  beforeAll(() => {
    if (savedEnv.SSL_BACKEND !== undefined) delete process.env.SSL_BACKEND;
  });
  afterAll(() => {
    process.env.PATH = savedEnv.PATH;
    if (savedEnv.SSL_BACKEND !== undefined) process.env.SSL_BACKEND = savedEnv.SSL_BACKEND;
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('prefers tfjs-node-gpu when a GPU is visible, and loads nothing else', async () => {
    const project = fakeProject('gpu-and-cpu', { '@tensorflow/tfjs-node-gpu': 'works', '@tensorflow/tfjs-node': 'works' });
    const { info, loaded: packages } = await selectFrom(project, { gpu: true });
    expect(info.name).toBe('tensorflow-gpu');
    expect(info.tfjsBackend).toBe(FAKE);
    expect(tf.getBackend()).toBe(FAKE);
    expect(info.reason).toContain('nvidia-smi lists a GPU');
    expect(packages).toEqual(['@tensorflow/tfjs-node-gpu']);
  });

  it('takes tfjs-node when tfjs-node-gpu is installed but no GPU is visible', async () => {
    const project = fakeProject('gpu-package-no-gpu', { '@tensorflow/tfjs-node-gpu': 'works', '@tensorflow/tfjs-node': 'works' });
    const { info, loaded: packages } = await selectFrom(project, { gpu: false });
    expect(info.name).toBe('tensorflow');
    expect(tf.getBackend()).toBe(FAKE);
    expect(packages).toEqual(['@tensorflow/tfjs-node']);
  });

  it(
    'methods of the repository train on the tensorflow backend (no wasm-only kernel needed), and every kernel they run exists on wasm',
    { timeout: 300_000 },
    async () => {
      // The backend chosen by the previous test; kernels missing on it would throw "not registered for backend 'tensorflow'".
      expect(tf.getBackend()).toBe(FAKE);
      const core = await import('../index');
      const repository = path.resolve(import.meta.dirname, '../../../..');
      const plugin = async (name: string) =>
        ((await import(pathToFileURL(path.join(repository, 'packages', name, 'src/index.ts')).href)) as { default: () => Plugin }).default;
      const registry = core
        .createRegistry()
        .use((await plugin('contrastive'))())
        .use((await plugin('noncontrastive'))())
        .use((await plugin('semisup'))());
      const images = core.subset(
        await core.loadFashionMnist({ split: 'train', source: 'sample' }),
        Array.from({ length: 96 }, (_, i) => i),
      );
      const cnn = { kind: 'cnn', inputShape: [28, 28, 1], channels: [8, 16], seed: 1 } as const;
      const vit = { ...core.vitPreset('vit28'), embedDim: 32, depth: 1, numHeads: 2, seed: 2 };
      const runs: { method: string; config: Record<string, unknown>; encoder: typeof cnn | typeof vit; semiSupervised?: boolean }[] = [
        { method: 'contrastive:simclr', config: { projectionHiddenDim: 32, projectionDim: 16 }, encoder: cnn },
        // The ViT brings layer norm, attention and GELU (whose wasm kernel is one of ours).
        { method: 'contrastive:simclr', config: { projectionHiddenDim: 32, projectionDim: 16 }, encoder: vit },
        { method: 'noncontrastive:byol', config: { projectionHiddenDim: 32, projectionDim: 16, predictorHiddenDim: 32 }, encoder: cnn },
        { method: 'semisup:fixmatch', config: { unlabeledRatio: 3, threshold: 0.5 }, encoder: cnn, semiSupervised: true },
      ];
      const kernelsUsed = new Set<string>();
      for (const run of runs) {
        const data = run.semiSupervised ? core.labeledSplit(images, { perClass: 1, seed: 0 }) : images;
        let result: Awaited<ReturnType<typeof core.train>> | undefined;
        const profile = await tf.profile(async () => {
          result = await core.train({
            method: registry.create(run.method as never, run.config),
            data,
            encoder: run.encoder,
            batchSize: 8,
            maxSteps: 1,
            epochs: 1,
            seed: 3,
          });
        });
        for (const kernel of profile.kernels) kernelsUsed.add(kernel.name);
        if (result === undefined) throw new Error(`${run.method} did not train`);
        expect(tf.getBackend(), run.method).toBe(FAKE);
        expect(result.history.length, run.method).toBeGreaterThan(0);
        for (const record of result.history) expect(Number.isFinite(record.loss), `${run.method} loss ${record.loss}`).toBe(true);
        result.dispose();
      }
      // And the other way round: every kernel these steps ran also exists on wasm (where our layers swap some
      // op chains for fused kernels of ours, e.g. batch norm and GELU, that are registered there).
      // (The profile also lists named scopes, which are not kernels of the fake backend.) Wasm has its own
      // kernels and the ones `registerWasmTrainingKernels` adds when wasm is selected.
      const { listWasmTrainingKernels } = await import('./kernels/index');
      const ours = new Set(listWasmTrainingKernels());
      const wasmMissing = [...kernelsUsed].filter(
        (name) => tf.getKernel(name, FAKE) !== undefined && tf.getKernel(name, 'wasm') === undefined && !ours.has(name),
      );
      expect(kernelsUsed.size).toBeGreaterThan(20);
      expect(wasmMissing).toEqual([]);
    },
  );

  it('falls back to wasm when tfjs-node is installed but fails to load, and says why', async () => {
    const project = fakeProject('broken-cpu', { '@tensorflow/tfjs-node': 'broken' });
    const { info, loaded: packages } = await selectFrom(project, { gpu: false });
    expect(info.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(info.reason).toContain('@tensorflow/tfjs-node is installed but failed to load');
    expect(info.reason).toContain('cannot open shared object file');
    expect(packages).toEqual([]);
  });
});
