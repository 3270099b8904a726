import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/program';
import { bufferedIo } from './cli-io-buffer';

const workDir = mkdtempSync(join(tmpdir(), 'ssl-semisup-init-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

async function ssl(...argv: string[]) {
  const io = bufferedIo(workDir);
  const code = await runCli(argv, io);
  return { code, stdout: io.out(), stderr: io.err() };
}

function writeJson(name: string, value: unknown): string {
  const path = join(workDir, name);
  writeFileSync(path, JSON.stringify(value));
  return path;
}

/** A run directory holding only a config.json: what --init reads before anything is loaded. */
function fakeRun(name: string, config: Record<string, unknown>): string {
  const dir = join(workDir, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ config: {}, epochs: 1, rounds: 1, batchSize: 8, seed: 0, ...config }));
  return dir;
}

const SMALL_CNN = { channels: [4, 8] };
const sampleLabels = ['--data', 'fashion-mnist-sample', '--labels-per-class', '10', '--batch-size', '16', '--steps', '3'];

describe('ssl semisup --init', () => {
  it("starts the method's encoder and its control's from a finished ssl pretrain run, refusing other starts in one line", async () => {
    const pretrainConfig = writeJson('simclr.json', { encoderOptions: SMALL_CNN });
    const start = join(workDir, 'simclr-run');
    const pretrain = await ssl(
      'pretrain',
      'contrastive:simclr',
      '--data',
      'fashion-mnist-sample',
      '--epochs',
      '1',
      '--batch-size',
      '128',
      '--config',
      pretrainConfig,
      '--no-eval',
      '--out',
      start,
    );
    expect(pretrain.code, pretrain.stderr).toBe(0);

    const supervisedOnly = writeJson('supervised-only.json', {
      encoderOptions: SMALL_CNN,
      method: { unlabeledRatio: 1, unlabeledWeight: 0 },
    });
    const fixmatch = writeJson('fixmatch.json', { encoderOptions: SMALL_CNN, method: { unlabeledRatio: 1 } });
    const controlDir = join(workDir, 'control-from-start');
    const control = await ssl(
      'semisup',
      'fixmatch',
      ...sampleLabels,
      '--config',
      supervisedOnly,
      '--init',
      start,
      '--no-control',
      '--out',
      controlDir,
    );
    expect(control.code, control.stderr).toBe(0);
    expect(control.stderr).toContain(`ssl: semisup:fixmatch's encoder starts from the cnn encoder of ${start} (its heads from the seed).`);
    const config = JSON.parse(readFileSync(join(controlDir, 'config.json'), 'utf8'));
    expect(config.initialEncoder).toBe(start);
    expect(config.invocation.init).toBe(start);

    // A run started like its --control is accepted; the same run from a random start is refused, naming --init.
    const methodDir = join(workDir, 'fixmatch-from-start');
    const method = await ssl(
      'semisup',
      'fixmatch',
      ...sampleLabels,
      '--config',
      fixmatch,
      '--init',
      start,
      '--control',
      controlDir,
      '--out',
      methodDir,
    );
    expect(method.code, method.stderr).toBe(0);
    const randomStart = await ssl(
      'semisup',
      'fixmatch',
      ...sampleLabels,
      '--config',
      fixmatch,
      '--control',
      controlDir,
      '--out',
      join(workDir, 'x1'),
    );
    expect(randomStart.code).toBe(1);
    expect(randomStart.stderr.trim()).toBe(
      `ssl: error: --control ${controlDir} was trained differently: --init null (the control's ${JSON.stringify(start)}); a shared control needs this run's data, labels, seed, encoder, batch, lr and steps.`,
    );

    // A finished --steps run says so (it stops mid-epoch; its epochs are a ceiling).
    const again = await ssl('semisup', 'fixmatch', ...sampleLabels, '--config', fixmatch, '--init', start, '--out', methodDir);
    expect(again.stderr.trim()).toBe(
      `ssl: error: ${methodDir} already holds a semisup:fixmatch run (finished); pass --resume to continue it, --overwrite to start over, or choose another --out.`,
    );
    const otherStart = await ssl('semisup', 'fixmatch', '--labels-per-class', '10', '--resume', '--init', controlDir, '--out', methodDir);
    expect(otherStart.stderr.trim()).toBe(
      `ssl: error: --resume --init ${controlDir} disagrees with the run's --init ${start}; leave --init out to resume it.`,
    );

    const refusal = async (init: string, configPath = fixmatch) => {
      const result = await ssl(
        'semisup',
        'fixmatch',
        ...sampleLabels,
        '--config',
        configPath,
        '--init',
        init,
        '--out',
        join(workDir, 'refused'),
      );
      expect(result.code).toBe(1);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      return result.stderr.trim();
    };
    const defaultCnn = writeJson('default-cnn.json', { method: { unlabeledRatio: 1 } });
    expect(await refusal(start, defaultCnn)).toBe(
      `ssl: error: --init ${start} trained the encoder {"channels":[4,8],"inputShape":[28,28,1],"kind":"cnn"}, this run's is {"inputShape":[28,28,1],"kind":"cnn"}; pass the --encoder and --config "encoderOptions" of the --init run.`,
    );
    expect(await refusal(controlDir)).toBe(
      `ssl: error: --init ${controlDir} is a semisup:fixmatch run (semi-supervised); --init starts from a self-supervised run of \`ssl pretrain\`.`,
    );
    const textRun = fakeRun('mlm-run', { method: 'masked:mlm', encoder: null });
    expect(await refusal(textRun)).toBe(
      `ssl: error: --init ${textRun} is a masked:mlm run whose encoder is none, not an image encoder; --init starts an image encoder.`,
    );
    const unfinished = fakeRun('unfinished-run', {
      method: 'contrastive:simclr',
      encoder: { kind: 'cnn', inputShape: [28, 28, 1], channels: [4, 8] },
    });
    expect(await refusal(unfinished)).toBe(
      `ssl: error: --init ${unfinished} is an unfinished contrastive:simclr run (no final encoder); finish it with \`ssl pretrain contrastive:simclr --resume --out ${unfinished}\` first.`,
    );
  }, 400_000);
});
