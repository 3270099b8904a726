import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '@ssl/cli';
import { expectComparedResults } from '@ssl/test-utils/example-suite';
import { afterAll, describe, expect, it } from 'vitest';
import { parseSimclrArgs, runSimclrExample } from './main';

describe('simclr-fashion-mnist example and `ssl pretrain simclr`', () => {
  const dir = mkdtempSync(join(tmpdir(), 'simclr-example-vs-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // The example's own checks (describePretrainAndCompareExample, which byol's example runs) are made on this run's
  // example rather than on a second, 2-step run: the same code path, one training and three evaluations fewer.
  it('print the same figures, each beside its random-init control, for the same seed and settings; the example writes them, each far above chance', async () => {
    // One epoch of the bundled sample (11 steps of 256): the README's main command on a tiny budget.
    const cli = async (...argv: string[]) => {
      let stdout = '';
      let stderr = '';
      const io = {
        cwd: dir,
        interactive: false,
        stdout: { write: (text: string) => void (stdout += text) },
        stderr: { write: (text: string) => void (stderr += text) },
      };
      const code = await runCli(argv, io);
      expect(code, stderr).toBe(0);
      return stdout;
    };
    const cliOut = join(dir, 'cli');
    // The same seed and settings on both sides; only the data's name differs between the CLI and the example.
    const settings = ['--epochs', '1', '--batch-size', '256', '--seed', '1'];
    const stdout = await cli('pretrain', 'simclr', '--data', 'fashion-mnist-sample', ...settings, '--out', cliOut);

    const example = await runSimclrExample({
      ...parseSimclrArgs(['--data', 'sample', ...settings, '--out', join(dir, 'example')]),
      log: () => {},
    });
    expect(example.steps).toBe(11);
    expectComparedResults(example, join(dir, 'example'), 1);
    // The whole table, character for character: kNN, linear probe, 10 labels/class, each with random init, gain, raw pixels.
    expect(stdout).toContain(example.table);
    expect(example.table).toMatch(/^figure\s+trained\s+random init\s+gain\s+raw pixels\n/);
    expect(example.table.split('\n').slice(2)).toHaveLength(3);
    // `ssl eval` of the saved encoder: the same protocol, the control rebuilt from the spec and seed saved with it,
    // the label subsets drawn from the run's seed (1, not the default 0).
    expect(await cli('eval', cliOut, '--data', 'fashion-mnist-sample', '--out', join(dir, 'eval'))).toContain(example.table);

    // eval.json and report.html carry the control for every figure.
    const evaluation = JSON.parse(readFileSync(join(cliOut, 'eval.json'), 'utf8'));
    const [knn, linear, fewLabels] = evaluation.rows;
    expect([knn.value, knn.randomInit.value, knn.rawPixels.value]).toEqual([
      example.results.trained.knn,
      example.results.randomInit.knn,
      example.results.rawPixels.knn,
    ]);
    expect([linear.value, linear.randomInit.value]).toEqual([example.results.trained.linear, example.results.randomInit.linear]);
    expect({ mean: fewLabels.randomInit.value, std: fewLabels.randomInit.std }).toEqual(example.results.randomInit.fewLabels);
    expect({ mean: fewLabels.value, std: fewLabels.std }).toEqual(example.results.trained.fewLabels);
    const report = readFileSync(join(cliOut, 'report.html'), 'utf8');
    expect(report).toContain('<th>random init</th>');
    expect(report).toContain(`${(100 * example.results.randomInit.knn).toFixed(1)}%`);
  }, 600_000);
});
