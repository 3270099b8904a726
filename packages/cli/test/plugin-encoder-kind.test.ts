import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SslError, createRegistry, imageDataset, loadEncoder } from '@ssl/core';
import masked from '@ssl/masked';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { evaluateEncoder } from '../src/evaluate-encoder';
import { runCli } from '../src/program';
import { bufferedIo } from './cli-io-buffer';

const workDir = mkdtempSync(join(tmpdir(), 'ssl-plugin-encoder-kind-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

/** A labeled folder of 28×28 grey images, 12 per class, in two classes that differ in brightness. */
function writeLabeledFolder(name: string): string {
  const root = join(workDir, name);
  for (const [label, level] of [
    ['dark', 40],
    ['light', 200],
  ] as const) {
    mkdirSync(join(root, label), { recursive: true });
    for (let i = 0; i < 12; i++) {
      const png = new PNG({ width: 28, height: 28 });
      for (let p = 0; p < 784; p++) png.data.set([level + ((p * 7 + i * 13) % 40), 0, 0, 255], p * 4);
      writeFileSync(join(root, label, `${i}.png`), PNG.sync.write(png));
    }
  }
  return root;
}

describe('a run whose encoder is of a plugin kind (masked:stacked-dae)', () => {
  it("ssl eval loads it (run or bare encoder directory) through the registry and prints its figures; evaluateEncoder without the registry's kinds and ssl export refuse it in one line", async () => {
    const runDir = join(workDir, 'stacked-dae');
    const folder = writeLabeledFolder('shades');
    writeFileSync(
      join(workDir, 'stacked-dae.json'),
      JSON.stringify({ method: { layers: [8], fineTune: false }, encoderOptions: { channels: [4, 8] } }),
    );
    const pretrain = bufferedIo(workDir);
    const trainFlags = ['--data', folder, '--channels', '1', '--image-size', '28', '--epochs', '1', '--batch-size', '12'];
    const tiny = [...trainFlags, '--config', 'stacked-dae.json', '--no-eval', '--backend', 'wasm', '--out', runDir];
    expect(await runCli(['pretrain', 'masked:stacked-dae', ...tiny], pretrain), pretrain.err()).toBe(0);
    const saved = JSON.parse(readFileSync(join(runDir, 'encoder', 'model.json'), 'utf8'));
    expect(saved.userDefinedMetadata.sslEncoder.spec).toMatchObject({ kind: 'stacked-dae', layers: [{ units: 8 }] });

    const evaluation = bufferedIo(workDir);
    expect(await runCli(['eval', runDir, '--data', folder, '--backend', 'wasm'], evaluation), evaluation.err()).toBe(0);
    expect(evaluation.out()).toMatch(/kNN top-1\s+\d+\.\d%\s+\d+\.\d%\s+[+-]?\d+\.\d pts\s+\d+\.\d%/);
    expect(evaluation.out()).toMatch(/linear probe top-1, all labels\s+\d+\.\d%/);
    const written = JSON.parse(readFileSync(join(runDir, 'eval.json'), 'utf8'));
    expect(written.rows[0]).toMatchObject({ name: 'kNN top-1' });
    expect(written.rows[0].randomInit).toBeDefined();

    // A bare encoder directory (no run around it, so no method): its control is rebuilt from the registry's kinds.
    const bareDir = join(workDir, 'bare-stacked-dae');
    cpSync(join(runDir, 'encoder'), bareDir, { recursive: true });
    const bare = bufferedIo(workDir);
    const bareOut = join(workDir, 'bare-eval');
    expect(await runCli(['eval', bareDir, '--data', folder, '--backend', 'wasm', '--out', bareOut], bare), bare.err()).toBe(0);
    expect(bare.out()).toMatch(/kNN top-1\s+\d+\.\d%\s+\d+\.\d%\s+[+-]?\d+\.\d pts\s+\d+\.\d%/);
    expect(JSON.parse(readFileSync(join(bareOut, 'eval.json'), 'utf8')).rows[0].randomInit).toBeDefined();

    // evaluateEncoder without the registry's kinds cannot rebuild the control: one line saying how to pass them.
    const encoder = await loadEncoder(join(runDir, 'encoder'), { encoders: createRegistry().use(masked()).parts().encoders });
    const images = imageDataset({ images: new Uint8Array(2 * 28 * 28), shape: [28, 28, 1], labels: [0, 1] });
    const error = await evaluateEncoder(encoder, { train: images, test: images, seed: 0 }).then(
      () => expect.unreachable('a stacked-dae control was built without its kind'),
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(SslError);
    expect((error as SslError).message).toContain("a 'stacked-dae' encoder, a kind a plugin registers");
    expect((error as SslError).message).toContain('randomInitControl(encoder, { encoders: registry.parts().encoders })');
    expect((error as SslError).message).not.toContain('\n');
    encoder.model.dispose();

    const exported = bufferedIo(workDir);
    expect(await runCli(['export', runDir, '--out', join(workDir, 'export'), '--backend', 'wasm'], exported)).toBe(1);
    expect(exported.err()).toMatch(/holds a 'stacked-dae' encoder, a plugin's kind with no PyTorch mapping/);
    expect(
      exported
        .err()
        .trim()
        .split('\n')
        .filter((line) => line.startsWith('ssl: error')),
    ).toHaveLength(1);
  }, 120_000);
});
