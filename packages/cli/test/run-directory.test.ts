import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planTrainingRun } from '../src/commands/plan-training-run';
import { loadRegistry } from '../src/plugins';
import { runCli } from '../src/program';
import { bufferedIo } from './cli-io-buffer';

/** Issue 22, "Runs that never lie": the run directory owns its run, and every way a run ends is honest. */

let workDir: string;
beforeAll(() => {
  workDir = mkdtempSync(join(tmpdir(), 'ssl-rundir-'));
});
afterAll(() => {
  rmSync(workDir, { recursive: true, force: true });
});

async function run(...argv: string[]) {
  const io = bufferedIo(workDir);
  const started = performance.now();
  const code = await runCli(argv, io);
  return { code, stdout: io.out(), stderr: io.err(), ms: performance.now() - started };
}

function expectOneLineError(stderr: string, pattern: RegExp): void {
  const lines = stderr.trimEnd().split('\n');
  expect(lines, stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^ssl: error: /);
  expect(lines[0]).toMatch(pattern);
}

function stepRecords(outDir: string): { type: string; step: number; epoch: number; loss: number }[] {
  return readFileSync(join(outDir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { type: string; step: number; epoch: number; loss: number });
}

const SIMCLR = ['pretrain', 'contrastive:simclr'];
// A CNN 16-32-64 rather than the default 32-64-128: these tests are about the run directory, not the encoder, and
// a step of 256 costs about a third (0.27 against 0.8 s of CPU under load). 11 steps an epoch all the same.
const recipeDir = mkdtempSync(join(tmpdir(), 'ssl-rundir-recipe-'));
const SMALL_ENCODER = join(recipeDir, 'small-encoder.json');
writeFileSync(SMALL_ENCODER, JSON.stringify({ encoderOptions: { channels: [16, 32, 64] } }));
afterAll(() => rmSync(recipeDir, { recursive: true, force: true }));
const TINY_RUN = ['--data', 'fashion-mnist-sample', '--batch-size', '256', '--config', SMALL_ENCODER, '--no-eval', '--backend', 'wasm'];

describe('the output directory is checked before any work', () => {
  const cases: [string, () => string, RegExp][] = [
    ['a file', () => join(workDir, 'occupied'), /is a file/],
    ['under a file', () => join(workDir, 'occupied', 'run'), /occupied is a file, not a directory/],
    ['a pseudo file system', () => '/proc/ssl-run-test', /proc pseudo file system/],
  ];
  for (const [what, outDir, message] of cases) {
    it(`refuses an --out that is ${what} in under 2 s with one line, writing nothing`, async () => {
      writeFileSync(join(workDir, 'occupied'), 'not a directory');
      const before = readdirSync(workDir).sort();
      const { code, stderr, ms } = await run(...SIMCLR, ...TINY_RUN, '--out', outDir());
      expect(code).toBe(1);
      expectOneLineError(stderr, message);
      expect(ms).toBeLessThan(2000);
      expect(readdirSync(workDir).sort()).toEqual(before);
      expect(readFileSync(join(workDir, 'occupied'), 'utf8')).toBe('not a directory');
    });
  }

  // Root writes everywhere, so a read-only directory only refuses other users.
  it.skipIf(process.getuid?.() === 0)('refuses an unwritable --out in under 2 s, writing nothing', async () => {
    const locked = join(workDir, 'read-only');
    mkdirSync(locked);
    chmodSync(locked, 0o555);
    const { code, stderr, ms } = await run(...SIMCLR, ...TINY_RUN, '--out', join(locked, 'a', 'b'));
    chmodSync(locked, 0o755);
    expect(code).toBe(1);
    expectOneLineError(stderr, /not writable/);
    expect(ms).toBeLessThan(2000);
    expect(readdirSync(locked)).toEqual([]);
  });
});

describe('one run per directory', () => {
  let owner: ChildProcess | undefined;
  afterAll(() => {
    owner?.kill('SIGKILL');
  });

  it("refuses a second run at once, naming the owner's pid", async () => {
    owner = spawn('sleep', ['60'], { stdio: 'ignore' });
    const outDir = join(workDir, 'locked-run');
    mkdirSync(outDir);
    writeFileSync(
      join(outDir, 'run.lock'),
      JSON.stringify({ pid: owner.pid, host: (await import('node:os')).hostname(), startedAt: 'now' }),
    );
    const { code, stderr, ms } = await run(...SIMCLR, ...TINY_RUN, '--out', outDir);
    expect(code).toBe(1);
    expectOneLineError(stderr, new RegExp(`in use by another run \\(pid ${owner.pid},`));
    expect(ms).toBeLessThan(2000);
    expect(readdirSync(outDir)).toEqual(['run.lock']);
  });
});

describe('resume: config.json is the truth of the run', () => {
  const outDir = () => join(workDir, 'resumed');

  it('refuses flags that disagree, takes the run values for those left out, and --extend lengthens it with one record per step', async () => {
    const first = await run(...SIMCLR, ...TINY_RUN, '--epochs', '1', '--lr', '0.3', '--checkpoint-every', '4', '--out', outDir());
    expect(first.code, first.stderr).toBe(0);
    const config = () =>
      JSON.parse(readFileSync(join(outDir(), 'config.json'), 'utf8')) as { epochs: number; batchSize: number; optimizer: { lr: number } };
    const configBefore = readFileSync(join(outDir(), 'config.json'), 'utf8');

    // Changed flags: every disagreement named in flags, nothing rewritten.
    const changed = await run(...SIMCLR, '--out', outDir(), '--resume', '--batch-size', '128', '--lr', '0.1', '--seed', '3');
    expect(changed.code).toBe(1);
    expectOneLineError(
      changed.stderr,
      /--batch-size 128 \(the run's is 256\), --lr 0\.1 \(the run's is 0\.3\), --seed 3 \(the run's is 0\) disagree/,
    );
    // More epochs on a finished run: only with --extend, whose schedule rule the message states.
    const longer = await run(...SIMCLR, '--out', outDir(), '--resume', '--epochs', '2');
    expect(longer.code).toBe(1);
    expectOneLineError(longer.stderr, /finished its 1 epoch.*add --extend.*schedule is then re-planned for 2 epochs/);
    // A restart without --resume is refused, naming the ways out.
    const restart = await run(...SIMCLR, ...TINY_RUN, '--out', outDir());
    expectOneLineError(restart.stderr, /already holds a contrastive:simclr run \(finished\).*--resume.*--overwrite/);
    expect(readFileSync(join(outDir(), 'config.json'), 'utf8')).toBe(configBefore);

    // The evaluation of the 1-epoch model (as a run without --no-eval leaves it) must not outlive that model.
    writeFileSync(join(outDir(), 'eval.json'), '{"rows":[{"name":"kNN top-1","value":0.6}]}\n');
    writeFileSync(join(outDir(), 'embedding-map.svg'), '<svg/>');
    // Missing flags (even --data) take the run's values: batch 256 and lr 0.3, not the method's defaults.
    const extended = await run(...SIMCLR, '--out', outDir(), '--resume', '--epochs', '2', '--extend', '--no-eval');
    expect(extended.code, extended.stderr).toBe(0);
    expect(extended.stderr).toContain("removed eval.json: it described the model before this run's new steps");
    expect(existsSync(join(outDir(), 'eval.json')) || existsSync(join(outDir(), 'embedding-map.svg'))).toBe(false);
    expect(readFileSync(join(outDir(), 'report.html'), 'utf8')).toContain('No eval.json in this run');
    expect(config()).toMatchObject({ epochs: 2, batchSize: 256, optimizer: { lr: 0.3 } });
    const records = stepRecords(outDir());
    // 3000 sample images / 256 = 11 steps per epoch: each step once, epochs never going back.
    expect(records.filter((r) => r.type === 'step').map((r) => r.step)).toEqual(Array.from({ length: 22 }, (_, i) => i));
    const epochs = records.map((r) => r.epoch);
    expect(epochs).toEqual([...epochs].sort((a, b) => a - b));
    expect(records.filter((r) => r.type === 'epoch').map((r) => [r.epoch, r.step])).toEqual([
      [0, 10],
      [1, 21],
    ]);
  }, 300_000);

  it('restarts a run stopped before its first checkpoint, with or without --resume, deleting nothing by hand', async () => {
    const stopped = join(workDir, 'stopped-early');
    mkdirSync(stopped);
    // What a run killed in its first steps leaves: config.json and a few metrics, no checkpoint.
    writeFileSync(join(stopped, 'config.json'), readFileSync(join(outDir(), 'config.json')));
    writeFileSync(join(stopped, 'metrics.jsonl'), '{"type":"step","step":0,"epoch":0,"loss":5}\n');
    const { registry } = await loadRegistry(workDir);
    const resumed = await planTrainingRun(registry, workDir, {
      mode: 'pretrain',
      method: 'contrastive:simclr',
      flags: { out: stopped, resume: true },
    });
    expect(resumed.resume).toBe(false); // from step 0...
    expect(resumed).toMatchObject({ batchSize: 256, lr: 0.3, invocation: { data: 'fashion-mnist-sample' } }); // ...with the run's settings
    expect(resumed.directoryNote).toMatch(/no checkpoint yet: starting its run over from step 0/);
    const restarted = await planTrainingRun(registry, workDir, {
      mode: 'pretrain',
      method: 'contrastive:simclr',
      flags: { out: stopped, data: 'fashion-mnist-sample' },
    });
    expect(restarted.directoryNote).toMatch(/stopped before its first checkpoint: starting it over/);
  });
});

describe('divergence', () => {
  it('stops SimCLR at lr 1e9 (weights non-finite, NT-Xent finite) with a diverged error, exit 1 and no encoder or non-finite checkpoint', async () => {
    const outDir = join(workDir, 'diverged');
    const { code, stderr } = await run(
      ...SIMCLR,
      '--data',
      'fashion-mnist-sample',
      '--batch-size',
      '64',
      '--epochs',
      '1',
      '--lr',
      '1e9',
      '--no-eval',
      '--backend',
      'wasm',
      '--out',
      outDir,
    );
    expect(code).toBe(1);
    expect(stderr).toMatch(/ssl: error: Training diverged at step \d+.*no longer finite.*lower --lr/);
    // The loss stayed finite all along: the non-finite-loss guard alone would have let this run finish.
    const losses = stepRecords(outDir)
      .filter((r) => r.type === 'step')
      .map((r) => r.loss);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(existsSync(join(outDir, 'encoder'))).toBe(false);
    expect(existsSync(join(outDir, 'checkpoints')) ? readdirSync(join(outDir, 'checkpoints')) : []).toEqual([]);
    expect(existsSync(join(outDir, 'run.lock'))).toBe(false);
  }, 300_000);
});

const binPath = fileURLToPath(new URL('../bin/ssl.mjs', import.meta.url));

describe('SIGTERM', () => {
  it('mid-epoch: checkpoints, exits 143, and --resume ends bit-identical to an uninterrupted run', async () => {
    // Single-threaded wasm: the backend on which two runs of the same seed are bit-identical.
    const env = { ...process.env, SSL_THREADS: '1' };
    const args = (out: string) => [binPath, ...SIMCLR, ...TINY_RUN, '--epochs', '2', '--out', out];
    const straight = join(workDir, 'sigterm-straight');
    const stopped = join(workDir, 'sigterm-stopped');
    const straightRun = spawnSync(process.execPath, args(straight), { encoding: 'utf8', env, timeout: 600_000 });
    expect(straightRun.status, straightRun.stderr).toBe(0);

    const child = spawn(process.execPath, args(stopped), { stdio: ['ignore', 'ignore', 'pipe'], env });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // Step 5 of an 11-step epoch: far from an epoch-end checkpoint (the default --checkpoint-every is 100).
    const metrics = join(stopped, 'metrics.jsonl');
    const deadline = Date.now() + 300_000;
    while (!(existsSync(metrics) && readFileSync(metrics, 'utf8').includes('"step":5,')) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGTERM');
    expect(await exited, stderr).toBe(143);
    expect(stderr).toMatch(/SIGTERM: stopping after this step and writing a checkpoint/);
    const checkpoints = readdirSync(join(stopped, 'checkpoints'));
    expect(checkpoints).toHaveLength(1);
    const stoppedAt = Number(/^step-(\d+)$/.exec(checkpoints[0])![1]);
    expect(stoppedAt % 11).not.toBe(0);
    expect(existsSync(join(stopped, 'run.lock'))).toBe(false);

    const resumed = spawnSync(process.execPath, [binPath, ...SIMCLR, '--out', stopped, '--resume', '--no-eval'], {
      encoding: 'utf8',
      env,
      timeout: 600_000,
    });
    expect(resumed.status, resumed.stderr).toBe(0);
    const losses = (dir: string) =>
      stepRecords(dir)
        .filter((r) => r.type === 'step')
        .map((r) => [r.step, r.loss]);
    expect(losses(stopped)).toEqual(losses(straight));
    const weights = (dir: string) =>
      readFileSync(
        join(
          dir,
          'encoder',
          readdirSync(join(dir, 'encoder')).find((f) => f.endsWith('.bin'))!,
        ),
      );
    expect(weights(stopped).equals(weights(straight))).toBe(true);
  }, 900_000);
});

describe('CLI vocabulary', () => {
  it("uses a method's recommended encoder (MAE → vit28) when --encoder is not given, and accepts .csv pairs", async () => {
    const { registry } = await loadRegistry(workDir);
    const mae = await planTrainingRun(registry, workDir, {
      mode: 'pretrain',
      method: 'masked:mae',
      flags: { data: 'fashion-mnist-sample', out: join(workDir, 'mae') },
    });
    expect(mae.encoderChoice).toBe('vit28');
    expect(mae.encoder).toMatchObject({ kind: 'vit', patchSize: 4, inputShape: [28, 28, 1] });
    writeFileSync(join(workDir, 'pairs.csv'), 'image,caption\na.png,a cat\n');
    const clip = await planTrainingRun(registry, workDir, {
      mode: 'pretrain',
      method: 'clip:clip',
      flags: { data: 'pairs.csv', out: join(workDir, 'clip') },
    });
    expect(clip.data).toEqual({ kind: 'image-text-pairs', path: join(workDir, 'pairs.csv') });
  });

  it('replaces preset fields with "encoderOptions" of --config, saves them, and names a bad one as that key', async () => {
    const { registry } = await loadRegistry(workDir);
    writeFileSync(join(workDir, 'patch7.json'), JSON.stringify({ encoder: 'vit28', encoderOptions: { patchSize: 7, pooling: 'mean' } }));
    const plan = await planTrainingRun(registry, workDir, {
      mode: 'pretrain',
      method: 'masked:mae',
      flags: { data: 'fashion-mnist-sample', config: 'patch7.json', out: join(workDir, 'mae-patch7') },
    });
    expect(plan.encoder).toMatchObject({ kind: 'vit', patchSize: 7, pooling: 'mean', inputShape: [28, 28, 1] });
    expect(plan.invocation.encoderOptions).toEqual({ patchSize: 7, pooling: 'mean' });
    writeFileSync(join(workDir, 'typo.json'), JSON.stringify({ encoder: 'vit28', encoderOptions: { patchsize: 7 } }));
    const { code, stderr } = await run('pretrain', 'masked:mae', '--data', 'fashion-mnist-sample', '--config', 'typo.json');
    expect(code).toBe(1);
    expectOneLineError(
      stderr,
      /--config "encoderOptions" with --encoder vit28: Invalid config value patchsize = 7: expected an option of a vit encoder: patchSize, /,
    );
  });

  it("names flags, not train() options, in core's errors", async () => {
    const { code, stderr } = await run(...SIMCLR, ...TINY_RUN, '--batch-size', '5000', '--out', join(workDir, 'too-big'));
    expect(code).toBe(1);
    expectOneLineError(
      stderr
        .split('\n')
        .filter((line) => line.startsWith('ssl: error'))
        .join('\n'),
      /fewer than one batch of 5000: lower --batch-size\.$/,
    );
  }, 60_000);
});
