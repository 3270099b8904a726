import type { PageEncoder } from '@ssl-examples/browser-training/workload';

/** The settings of a run: what a resume must repeat exactly. */
export interface RunSettings {
  method: string;
  encoder: PageEncoder;
  batchSize: number;
  steps: number;
}

/** What the page publishes on `window.sslPlayground`, which the test and scripts read (harness.ts). */
export interface PlaygroundState {
  status: 'loading' | 'ready' | 'training' | 'stopped' | 'done' | 'failed';
  backend?: string;
  threads?: number;
  simd?: boolean;
  crossOriginIsolated: boolean;
  settings?: RunSettings;
  /** The step of the checkpoint kept in IndexedDB (what Resume continues from). */
  savedStep?: number;
  resumedFromStep?: number;
  steps: number;
  /** losses[step]; after a resume the steps before the checkpoint come from the store. */
  losses: number[];
  /** Online kNN top-1 of 500 held-out images; step 0 is the encoder at random init. */
  knn: { step: number; top1: number }[];
  stepsPerSecond?: number;
  views?: { policy: string; rows: number };
  /** Features of the first PROBE_IMAGES test images by the encoder the page holds (trained or loaded). */
  probeFeatures?: { shape: number[]; values: number[] };
  loaded?: { source: string; kind: string; featureDim: number; knn: number };
  error?: string;
}
