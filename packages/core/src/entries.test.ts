import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const coreRoot = fileURLToPath(new URL('..', import.meta.url));

/**
 * What a fresh Node process finds registered after importing one entry of @ssl/core from sources (tsx, the
 * "@ssl/source" condition: how the CLI and the examples run in this repository). A child process, because
 * registrations are global to the process and vitest has already loaded tfjs.
 */
function registrationsAfterImporting(entry: string): { exports: string[]; chainedOps: boolean; cpuBackend: boolean; gradients: boolean } {
  const script = `
    const entry = await import(${JSON.stringify(entry)});
    const tf = await import('@tensorflow/tfjs-core');
    console.log(JSON.stringify({
      exports: Object.keys(entry).sort(),
      chainedOps: typeof tf.Tensor.prototype.add === 'function',
      cpuBackend: tf.findBackendFactory('cpu') != null,
      gradients: tf.getGradient('Conv2D') !== undefined,
    }));`;
  const output = execFileSync(process.execPath, ['--conditions=@ssl/source', '--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: coreRoot,
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  return JSON.parse(output.trim().split('\n').at(-1)!);
}

describe('entries', () => {
  const main = registrationsAfterImporting('@ssl/core');
  const base = registrationsAfterImporting('@ssl/core/base');

  it('@ssl/core registers chained ops, the cpu backend and gradients', () => {
    expect(main).toMatchObject({ chainedOps: true, cpuBackend: true, gradients: true });
  });

  it('@ssl/core/base registers neither chained ops nor the cpu backend', () => {
    // Gradients are not checked: tfjs-layers' Node build (a dependency of both entries) registers them itself.
    expect(base).toMatchObject({ chainedOps: false, cpuBackend: false });
  });

  it('both entries export the same names', () => {
    expect(base.exports.length).toBeGreaterThan(100);
    expect(main.exports).toEqual(base.exports);
  });
});
