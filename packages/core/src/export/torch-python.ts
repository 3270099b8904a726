import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/*
 * Test support (not exported from the package): finds a Python that imports torch and runs the export's
 * generated module on inputs, for the tests here and in @ssl/cli that compare features with PyTorch's.
 */

/** The script that loads an export with its own ssl_encoder.py and writes PyTorch's features. */
export const TORCH_FEATURES_SCRIPT = fileURLToPath(new URL('./fixtures/torch_features.py', import.meta.url));

/**
 * The first of $SSL_PYTHON, `python3` and `/usr/bin/python3` that imports torch (a pyenv or venv `python3` on
 * PATH may lack Debian's python3-torch), with why none did otherwise.
 */
export function findTorchPython(): { python?: string; reason: string } {
  const candidates = [process.env.SSL_PYTHON, 'python3', '/usr/bin/python3'].filter((c): c is string => !!c);
  const failures: string[] = [];
  for (const python of [...new Set(candidates)]) {
    const probe = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8', timeout: 120_000 });
    if (probe.status === 0) return { python, reason: `${python} has torch ${probe.stdout.trim()}` };
    failures.push(`${python}: ${probe.error ? probe.error.message : (probe.stderr.trim().split('\n').at(-1) ?? `exit ${probe.status}`)}`);
  }
  return { reason: `no Python imports torch (${failures.join('; ')}); apt-get install python3-torch (CI installs it)` };
}

export interface TorchFeatures {
  features: Float32Array;
  report: {
    keys: number;
    parameters: number;
    evalMode: boolean;
    featureShape: number[];
    trainModeMaxDiff: number;
    float32MaxError: number;
    torch: string;
  };
}

/**
 * PyTorch's eval-mode features of the export in `exportDir` for `inputs`: uint8 NHWC images of `shape`
 * [n, h, w, c], or for an MLP float32 vectors with shape [n, 1, 1, features].
 */
export function torchFeatures(
  python: string,
  exportDir: string,
  inputs: Uint8Array | Float32Array,
  shape: readonly number[],
): TorchFeatures {
  const work = mkdtempSync(join(tmpdir(), 'ssl-torch-'));
  try {
    const inputsPath = join(work, 'inputs.bin');
    const outPath = join(work, 'features.bin');
    writeFileSync(inputsPath, new Uint8Array(inputs.buffer, inputs.byteOffset, inputs.byteLength));
    const run = spawnSync(python, [TORCH_FEATURES_SCRIPT, exportDir, inputsPath, ...shape.map(String), outPath], {
      encoding: 'utf8',
      timeout: 300_000,
      env: { ...process.env, OMP_NUM_THREADS: process.env.OMP_NUM_THREADS ?? '1' },
    });
    if (run.status !== 0) throw new Error(`${TORCH_FEATURES_SCRIPT} failed (${run.status ?? run.signal}):\n${run.stderr}`);
    const bytes = readFileSync(outPath);
    const features = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    return { features, report: JSON.parse(run.stdout.trim().split('\n').at(-1) as string) as TorchFeatures['report'] };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** max |a − b| over two equally long arrays. */
export function maxAbsDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}
