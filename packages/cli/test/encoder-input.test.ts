import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/program';
import { bufferedIo } from './cli-io-buffer';

const workDir = mkdtempSync(join(tmpdir(), 'ssl-encoder-input-'));
// The controls' score cache in this test's own directory, on, whatever the environment says.
const cacheEnvironment = { SSL_CACHE_DIR: process.env.SSL_CACHE_DIR, SSL_CONTROL_CACHE: process.env.SSL_CONTROL_CACHE };
process.env.SSL_CACHE_DIR = join(workDir, 'cache');
delete process.env.SSL_CONTROL_CACHE;
afterAll(() => {
  rmSync(workDir, { recursive: true, force: true });
  for (const [name, value] of Object.entries(cacheEnvironment)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

async function ssl(...argv: string[]) {
  const io = bufferedIo(workDir);
  const code = await runCli(argv, io);
  return { code, stdout: io.out(), stderr: io.err() };
}

interface EvaluationRow {
  name: string;
  value: number;
  randomInit: { value: number };
  rawPixels: { value: number };
}

function figures(path: string): EvaluationRow[] {
  return (JSON.parse(readFileSync(path, 'utf8')) as { rows: EvaluationRow[] }).rows;
}

function heldOutTask(path: string): Array<{ name: string; kind: string; value: number; reference: { value: number } }> {
  return (JSON.parse(readFileSync(path, 'utf8')) as { heldOutTask: ReturnType<typeof heldOutTask> }).heldOutTask;
}

describe('a method whose encoder sees something derived from the images (colorization: lightness of colour images)', () => {
  it('trains through ssl pretrain with a 1-channel encoder on RGB data, and ssl eval of the run reproduces its figures', async () => {
    const out = join(workDir, 'colorization');
    const trained = await ssl(
      'pretrain',
      'pretext:colorization',
      '--data',
      'emoji-sample',
      '--epochs',
      '1',
      '--batch-size',
      '64',
      '--out',
      out,
    );
    expect(trained.code, trained.stderr).toBe(0);
    expect(trained.stderr).toContain('the encoder sees the lightness L* of the images');
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as { encoder: { inputShape: number[] } };
    expect(config.encoder.inputShape).toEqual([32, 32, 1]);
    const own = figures(join(out, 'eval.json'));
    // The method's own task on the held-out colour images: its colour predictions beside the best constant.
    const [colours] = heldOutTask(join(out, 'eval.json'));
    expect(colours).toMatchObject({ name: 'ab cross-entropy (nats per map position)', kind: 'error' });
    expect(colours.value).toBeGreaterThan(0);
    expect(colours.reference.value).toBeGreaterThan(0);
    expect(trained.stdout).toContain("the method's own task, held-out data");

    // Fed the RGB images as they are, the 1-channel encoder would refuse them: the run's method says what it sees.
    const evaluated = await ssl('eval', out, '--data', 'emoji-sample');
    expect(evaluated.code, evaluated.stderr).toBe(0);
    expect(figures(join(out, 'eval.json'))).toEqual(own);
    // Same images, same spec: the controls' scores come from the cache ssl pretrain filled, and are the same figures.
    expect(evaluated.stdout).toContain('random init and raw pixels: scores kept from an earlier evaluation');
    // Measured with the method's head, which a saved encoder does not carry: ssl eval keeps it.
    expect(heldOutTask(join(out, 'eval.json'))).toEqual([colours]);
  }, 240_000);
});
