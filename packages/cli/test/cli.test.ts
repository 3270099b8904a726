import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRegistry, defineMethod, definePlugin, isSslError, type MethodDataKind, type Registry } from '@ssl/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import clipPlugin from '@ssl/clip';
import { loadRunData } from '../src/load-run-data';
import { planTrainingRun, type TrainingFlags } from '../src/commands/plan-training-run';
import { runCli } from '../src/program';
import { bufferedIo } from './cli-io-buffer';

let workDir: string;
beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'ssl-cli-'));
  await mkdir(join(workDir, 'images', 'cats'), { recursive: true });
  await writeFile(join(workDir, 'pairs.jsonl'), '');
  await writeFile(join(workDir, 'notes.txt'), 'not data');
  await writeFile(join(workDir, 'notes.pdf'), 'not data');
});
afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

async function run(...argv: string[]) {
  const io = bufferedIo(workDir);
  const code = await runCli(argv, io);
  return { code, stdout: io.out(), stderr: io.err() };
}

/** The CLI contract for failures: exactly one `ssl: error:` line, no stack trace. */
function expectOneLineError(stderr: string, pattern: RegExp): void {
  const lines = stderr.trimEnd().split('\n');
  expect(lines, stderr).toHaveLength(1);
  expect(lines[0].startsWith('ssl: error: ')).toBe(true);
  expect(lines[0]).toMatch(pattern);
  expect(stderr).not.toMatch(/\n\s+at /);
}

describe('ssl help and usage errors', () => {
  it('--help lists every command and exits 0', async () => {
    const { code, stdout } = await run('--help');
    expect(code).toBe(0);
    for (const command of ['list', 'pretrain', 'semisup', 'eval', 'report']) expect(stdout).toContain(command);
  });

  it('pretrain --help shows the training flags and the global --verbose', async () => {
    const { code, stdout } = await run('pretrain', '--help');
    expect(code).toBe(0);
    for (const flag of [
      '--data',
      '--encoder',
      '--epochs',
      '--batch-size',
      '--lr',
      '--seed',
      '--backend',
      '--out',
      '--config',
      '--resume',
      '--verbose',
    ]) {
      expect(stdout).toContain(flag);
    }
  });

  it('rejects a non-numeric --epochs with one line and exit code 2', async () => {
    const { code, stderr } = await run('pretrain', 'contrastive:simclr', '--data', 'fashion-mnist-sample', '--epochs', 'ten');
    expect(code).toBe(2);
    expectOneLineError(stderr, /--epochs.*'ten' is invalid.*positive integer/);
  });

  it('rejects a negative learning rate', async () => {
    const { code, stderr } = await run('pretrain', 'x', '--data', 'mnist', '--lr', '-1');
    expect(code).toBe(2);
    expectOneLineError(stderr, /--lr.*positive number/);
  });

  it('puts commander\'s "did you mean" hint on the same line for an unknown flag', async () => {
    const { code, stderr } = await run('pretrain', 'x', '--data', 'mnist', '--epoch', '3');
    expect(code).toBe(2);
    expectOneLineError(stderr, /unknown option '--epoch'.*Did you mean --epochs\?/);
  });

  it('rejects an unknown command', async () => {
    const { code, stderr } = await run('pretrian');
    expect(code).toBe(2);
    expectOneLineError(stderr, /unknown command 'pretrian'.*pretrain/);
  });

  it('semisup requires --labels-per-class', async () => {
    const { code, stderr } = await run('semisup', 'semisup:fixmatch', '--data', 'fashion-mnist-sample');
    expect(code).toBe(2);
    expectOneLineError(stderr, /--labels-per-class/);
  });
});

describe('ssl pretrain validation before training', () => {
  it('reports a missing data path in one line with exit code 1', async () => {
    const { code, stderr } = await run('pretrain', 'contrastive:simclr', '--data', 'no/such/folder');
    expect(code).toBe(1);
    expectOneLineError(stderr, /--data "no\/such\/folder" is neither a built-in dataset .* nor an existing path/);
  });

  it('rejects a file that is neither image–caption pairs nor text, and a text corpus for an image method', async () => {
    const pdf = await run('pretrain', 'contrastive:simclr', '--data', 'notes.pdf');
    expect(pdf.code).toBe(1);
    expectOneLineError(pdf.stderr, /not image–caption pairs \(\.jsonl or \.csv\) or text \(\.txt, \.txt\.gz\)/);
    const text = await run('pretrain', 'contrastive:simclr', '--data', 'notes.txt');
    expect(text.code).toBe(1);
    expectOneLineError(
      text.stderr,
      /contrastive:simclr trains on unlabeled data; --data .*notes\.txt is a text corpus, which only text methods/,
    );
  });

  it('reports an unknown method in one line', async () => {
    const { code, stderr } = await run('pretrain', 'contrastive:simclrr', '--data', 'fashion-mnist-sample');
    expect(code).toBe(1);
    expectOneLineError(stderr, /Unknown method "contrastive:simclrr"/);
  });

  it('prints the stack with --verbose', async () => {
    const { code, stderr } = await run('pretrain', 'contrastive:simclr', '--data', 'no/such/folder', '--verbose');
    expect(code).toBe(1);
    expect(stderr.split('\n')[0]).toMatch(/^ssl: error: /);
    expect(stderr).toContain('code: data');
    expect(stderr).toMatch(/\n\s+at /);
  });

  it('says in one line which data a method on modality pairs takes, and that other pairs go through the library', async () => {
    const { code, stderr } = await run('pretrain', 'clip:audio-text', '--data', 'fashion-mnist-sample');
    expect(code).toBe(1);
    expectOneLineError(
      stderr,
      /clip:audio-text trains on pairs of two modalities; pass --data spoken-classes-sample \| <folder written by make-speech-sample\.ts> .*or train other pairs with the library's train\(\)/,
    );
  });

  it('rejects a --config file with an unknown key', async () => {
    await writeFile(join(workDir, 'bad-config.json'), JSON.stringify({ epochs: 2, temperature: 0.1 }));
    const { code, stderr } = await run('pretrain', 'test:tiny', '--data', 'fashion-mnist-sample', '--config', 'bad-config.json');
    expect(code).toBe(1);
    expectOneLineError(stderr, /unknown key "temperature".*under "method"/);
  });
});

interface TinyConfig {
  temperature: number;
}

// Typed with the general data kind: these fixtures are only planned, never built or stepped.
const tinyMethod = defineMethod<TinyConfig, MethodDataKind>({
  name: 'tiny',
  description: 'validation fixture',
  data: 'unlabeled',
  defaults: { temperature: 0.5 },
  validate(config) {
    if (!(config.temperature > 0)) throw new Error('unreachable in these tests');
  },
  views: () => ({ unlabeled: 'none' }),
  build: () => {
    throw new Error('planning must not build the method');
  },
});
const tinySemiSupervised = defineMethod<TinyConfig, MethodDataKind>({ ...tinyMethod, name: 'tiny-semi', data: 'semi-supervised' });

function testRegistry(): Registry {
  return createRegistry().use(
    definePlugin({
      name: 'ssl-plugin-test',
      version: '1.2.3',
      family: 'test',
      core: '>=0.0.0',
      methods: { tiny: tinyMethod, 'tiny-semi': tinySemiSupervised },
    }),
  );
}

async function plan(method: string, flags: Partial<TrainingFlags>, mode: 'pretrain' | 'semisup' = 'pretrain') {
  return planTrainingRun(testRegistry(), workDir, {
    mode,
    method,
    flags: { data: 'fashion-mnist-sample', ...flags },
    now: new Date(2025, 0, 2, 3, 4, 5),
  });
}

async function planError(...args: Parameters<typeof plan>) {
  return plan(...args).then(
    () => {
      throw new Error('expected planTrainingRun to fail');
    },
    (error: unknown) => error as Error,
  );
}

describe('planTrainingRun', () => {
  it('merges config file and flags (flags win) and defaults the run directory', async () => {
    await writeFile(
      join(workDir, 'config.json'),
      JSON.stringify({ epochs: 3, lr: 0.1, encoder: 'resnet18', method: { temperature: 0.2 } }),
    );
    const result = await plan('tiny', { config: 'config.json', epochs: 7 });
    expect(result.method.id).toBe('test:tiny');
    expect(result.method.config).toEqual({ temperature: 0.2 });
    expect(result.epochs).toBe(7);
    expect(result.lr).toBe(0.1);
    expect(result.encoder).toMatchObject({ kind: 'resnet18', inputShape: [28, 28, 1] });
    expect(result.outDir).toBe(join(workDir, 'runs', 'test-tiny-20250102-030405'));
    expect(result.data).toEqual({ kind: 'named', name: 'fashion-mnist-sample' });
  });

  it('rejects a method config field the method does not have, via the registry', async () => {
    await writeFile(join(workDir, 'typo.json'), JSON.stringify({ method: { temprature: 0.2 } }));
    const error = await planError('test:tiny', { config: 'typo.json' });
    expect(isSslError(error, 'invalid-config')).toBe(true);
    expect(error.message).toContain('Did you mean "temperature"');
  });

  it('suggests the closest encoder', async () => {
    const error = await planError('test:tiny', { encoder: 'resnet81' });
    expect(isSslError(error, 'invalid-config')).toBe(true);
    expect(error.message).toMatch(/Did you mean "resnet18"/);
  });

  it('sends semi-supervised methods to `ssl semisup` and back', async () => {
    expect((await planError('test:tiny-semi', {})).message).toContain('ssl semisup test:tiny-semi');
    expect((await planError('test:tiny', { labelsPerClass: 10 }, 'semisup')).message).toContain('not a semi-supervised method');
    const semi = await plan('test:tiny-semi', { labelsPerClass: 10 }, 'semisup');
    expect(semi.labelsPerClass).toBe(10);
  });

  it('keeps image-text pairs for image-text methods', async () => {
    const error = await planError('test:tiny', { data: 'pairs.jsonl' });
    expect(isSslError(error, 'data')).toBe(true);
    expect(error.message).toContain('image–text pairs');
  });

  it('accepts an image folder and uses --image-size/--channels for the encoder input', async () => {
    const result = await plan('test:tiny', { data: 'images', imageSize: 24, channels: 1 });
    expect(result.data).toEqual({ kind: 'image-folder', path: join(workDir, 'images') });
    expect(result.encoder?.kind === 'cnn' && result.encoder.inputShape).toEqual([24, 24, 1]);
  });

  it('sizes the emoji set by --image-size/--channels (RGB 32×32 by default), and loads its 9 groups at that size', async () => {
    const byDefault = await plan('test:tiny', { data: 'emoji-sample' });
    expect(byDefault.encoder?.kind === 'cnn' && byDefault.encoder.inputShape).toEqual([32, 32, 3]);
    const small = await plan('test:tiny', { data: 'emoji-sample', imageSize: 16, channels: 1 });
    expect(small.encoder?.kind === 'cnn' && small.encoder.inputShape).toEqual([16, 16, 1]);
    const data = await loadRunData(small.data, { geometry: small.geometry, seed: 0, needEvaluation: true });
    expect(data.evaluationTest?.shape).toEqual([16, 16, 1]);
    expect(data.evaluationTrain?.classNames).toHaveLength(9);
  });

  it('pairs --data with --audio clips for image–audio methods, and refuses --audio elsewhere or missing', async () => {
    const registry = createRegistry().use(clipPlugin());
    const planAudio = (flags: Partial<TrainingFlags>) =>
      planTrainingRun(registry, workDir, {
        mode: 'pretrain',
        method: 'clip:audio-visual',
        flags: { data: 'fashion-mnist-sample', ...flags },
      });
    await expect(planAudio({})).rejects.toThrow(
      /clip:audio-visual pairs images with sounds of their class: pass --audio spoken-classes-sample/,
    );
    const withAudio = await planAudio({ audio: 'spoken-classes-sample' });
    expect(withAudio.invocation.audio).toBe('spoken-classes-sample');
    const data = await loadRunData(withAudio.data, {
      geometry: withAudio.geometry,
      seed: 0,
      needEvaluation: false,
      audio: withAudio.audio,
    });
    expect((data.train as { audio: { size: number } }).audio.size).toBe(100);
    expect((await planError('test:tiny', { audio: 'spoken-classes-sample' })).message).toBe(
      '--audio is for image–audio methods; test:tiny trains on unlabeled data.',
    );
  });

  it('never overwrites a run with checkpoints, and --resume needs a run', async () => {
    const runDir = join(workDir, 'runs', 'existing');
    await mkdir(runDir, { recursive: true });
    expect(isSslError(await planError('test:tiny', { out: runDir, resume: true }), 'checkpoint')).toBe(true);
    const saved = {
      method: 'test:tiny',
      config: { temperature: 0.5 },
      epochs: 10,
      rounds: 1,
      batchSize: 256,
      optimizer: { kind: 'adamw', lr: 0.001 },
      seed: 0,
    };
    await writeFile(join(runDir, 'config.json'), JSON.stringify(saved));
    await mkdir(join(runDir, 'checkpoints', 'step-00000010'), { recursive: true });
    expect((await planError('test:tiny', { out: runDir })).message).toMatch(/already holds a test:tiny run.*--resume.*--overwrite/);
    expect((await plan('test:tiny', { out: runDir, resume: true })).resume).toBe(true);
    expect((await plan('test:tiny', { out: runDir, overwrite: true })).overwrite).toBe(true);
  });
});

const binPath = fileURLToPath(new URL('../bin/ssl.mjs', import.meta.url));

describe('bin/ssl.mjs', () => {
  it('runs from source without a build and passes the exit code on', () => {
    const version = spawnSync(process.execPath, [binPath, '--version'], { encoding: 'utf8', env: process.env });
    expect(version.status, version.stderr).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    const failure = spawnSync(process.execPath, [binPath, 'pretrain', 'x', '--data', 'mnist', '--epochs', '0'], {
      encoding: 'utf8',
      env: process.env,
    });
    expect(failure.status).toBe(2);
    expect(failure.stderr.trim()).toMatch(/^ssl: error: .*--epochs/);
  });
});

describe('ssl pretrain --resume after a kill', () => {
  it('continues a SIGKILLed run from its last checkpoint to the same number of steps', async () => {
    const { spawn } = await import('node:child_process');
    const { existsSync, readFileSync, readdirSync } = await import('node:fs');
    const out = join(workDir, 'runs', 'killed');
    // A CNN 16-32-64 rather than the default 32-64-128: the test is about the checkpoint, and a step costs about a
    // third; an epoch's 10 more steps (≥ 2.5 s) still outlast the 200 ms poll before the kill.
    const smallEncoder = join(workDir, 'small-encoder.json');
    await writeFile(smallEncoder, JSON.stringify({ encoderOptions: { channels: [16, 32, 64] } }));
    const args = [
      binPath,
      'pretrain',
      'contrastive:simclr',
      '--data',
      'fashion-mnist-sample',
      '--epochs',
      '2',
      '--batch-size',
      '256',
      '--config',
      smallEncoder,
      '--no-eval',
      '--backend',
      'wasm',
      '--out',
      out,
    ];
    // First run: killed with SIGKILL as soon as the epoch-1 checkpoint is on disk (mid-training).
    const child = spawn(process.execPath, args, { stdio: 'ignore', env: process.env });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    const checkpoints = join(out, 'checkpoints');
    const deadline = Date.now() + 300_000;
    while (!(existsSync(checkpoints) && readdirSync(checkpoints).some((d) => /^step-\d+$/.test(d))) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
    }
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    // The training process under the launcher notices the launcher's death at its next step boundary;
    // wait until it has stopped writing before resuming into the same directory.
    const metricsPath = join(out, 'metrics.jsonl');
    let lastSize = -1;
    let stableSince = Date.now();
    while (Date.now() - stableSince < 5_000) {
      const size = existsSync(metricsPath) ? readFileSync(metricsPath).length : 0;
      if (size !== lastSize) {
        lastSize = size;
        stableSince = Date.now();
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    const stepsBefore = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').length;
    // Second run: --resume picks the checkpoint up and finishes the two epochs.
    const resumed = spawnSync(process.execPath, [...args, '--resume'], { encoding: 'utf8', env: process.env, timeout: 840_000 });
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/resuming/);
    const records = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string; step: number });
    const steps = records.filter((r) => r.type === 'step').map((r) => r.step);
    // 3000 sample images / 256 = 11 steps per epoch; every step appears once, in order.
    expect(steps).toEqual(Array.from({ length: 22 }, (_, i) => i));
    expect(stepsBefore).toBeGreaterThanOrEqual(11);
    expect(existsSync(join(out, 'encoder', 'model.json'))).toBe(true);
  }, 1_200_000);
});
