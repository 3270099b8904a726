import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pngjs from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { toyDataset } from '../../train/fixtures/toy-method';
import { TarWriter } from './tar';

/**
 * Training from shards (trainer + ImageStream, in child processes so one can be SIGKILLed): the samples each step
 * reads are a function of (seed, epoch), and a run killed mid-epoch and resumed reads, from its checkpoint on, the
 * samples an uninterrupted run reads, to the same losses.
 */
const tmp = mkdtempSync(join(tmpdir(), 'ssl-stream-resume-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// The toy set (48 images of 12×12) as 4 shards of 12 PNGs, plus one truncated image in shard 2 (skipped and
// replaced the same way on every run).
const shards = join(tmp, 'shards');
const toy = toyDataset();
mkdirSync(shards);
for (let s = 0; s < 4; s++) {
  const writer = new TarWriter(join(shards, `${String(s).padStart(6, '0')}.tar`));
  for (let n = 12 * s; n < 12 * s + 12; n++) {
    const png = new pngjs.PNG({ width: 12, height: 12 });
    for (let p = 0; p < 144; p++) png.data.set([toy.images[n * 144 + p], toy.images[n * 144 + p], toy.images[n * 144 + p], 255], 4 * p);
    writer.add(`toy${String(n).padStart(3, '0')}.png`, pngjs.PNG.sync.write(png));
    writer.add(`toy${String(n).padStart(3, '0')}.cls`, new TextEncoder().encode(String(toy.labels![n])));
    if (n === 30) writer.add('broken.png', pngjs.PNG.sync.write(png).subarray(0, 60));
  }
  writer.close();
}

interface StepLine {
  step: number;
  keys: string[];
  loss: string;
}

function runChild(name: string, kill: number, mode: 'fresh' | 'resume', seed = 7) {
  const child = join(import.meta.dirname, 'fixtures', 'train-on-shards.ts');
  const out = join(tmp, name);
  const log = join(tmp, `${name}-${mode}.log`);
  const result = spawnSync(
    process.execPath,
    ['--conditions=@ssl/source', '--import', 'tsx', child, shards, out, log, String(kill), mode, String(seed)],
    { encoding: 'utf8', timeout: 120_000 },
  );
  const lines: StepLine[] = readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .map((line) => {
      const [step, keys, loss] = line.split(' ');
      return { step: Number(step), keys: keys.split(','), loss };
    });
  return { result, lines };
}

describe('training from shards', () => {
  it('reads samples in an order fixed by (seed, epoch); SIGKILL mid-epoch + resume reads the same samples as an uninterrupted run', () => {
    // 49 samples, one corrupt: 6 steps of 8 per epoch, 2 epochs, checkpoints every 4 steps.
    const straight = runChild('straight', -1, 'fresh');
    expect(straight.result.status, straight.result.stderr).toBe(0);
    expect(straight.lines.map((l) => l.step)).toEqual(Array.from({ length: 12 }, (_, i) => i));
    const epochKeys = (lines: StepLine[], epoch: number) => lines.slice(6 * epoch, 6 * epoch + 6).flatMap((l) => l.keys);
    // Each epoch reads 48 samples in a different order; the broken one is never returned (read() replaces it by
    // the next sample of the index, which that epoch may then hold twice).
    for (const epoch of [0, 1]) {
      expect(new Set(epochKeys(straight.lines, epoch)).size).toBeGreaterThanOrEqual(47);
      expect(epochKeys(straight.lines, epoch)).not.toContain('broken');
    }
    expect(epochKeys(straight.lines, 1)).not.toEqual(epochKeys(straight.lines, 0));
    // Another seed, another order.
    const otherSeed = runChild('other-seed', 0, 'fresh', 8);
    expect(otherSeed.result.signal).toBe('SIGKILL');
    expect(otherSeed.lines[0].keys).not.toEqual(straight.lines[0].keys);

    // Killed right after step 9 (mid-epoch 2): the newest checkpoint holds 8 steps.
    const killed = runChild('killed', 9, 'fresh');
    expect(killed.result.signal).toBe('SIGKILL');
    expect(killed.lines).toEqual(straight.lines.slice(0, 10));
    const resumed = runChild('killed', -1, 'resume');
    expect(resumed.result.status, resumed.result.stderr).toBe(0);
    // From the checkpoint on, the same samples at every step, and the same losses.
    expect(resumed.lines.map((l) => l.step)).toEqual([8, 9, 10, 11]);
    expect(resumed.lines).toEqual(straight.lines.slice(8));
  }, 240_000);
});
