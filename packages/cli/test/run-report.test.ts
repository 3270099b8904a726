import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isSslError } from '@ssl/core';
import { afterAll, describe, expect, it } from 'vitest';
import { findChromium, screenshotReport, withHeadlessChromium } from '../src/report/headless-chromium';
import { readRun } from '../src/report/read-run';
import { niceTicks, renderLineChart } from '../src/report/svg-line-chart';
import { renderRunReport, writeRunReport } from '../src/report/write-run-report';
import { writeSyntheticRun } from './synthetic-run';

const createdDirs: string[] = [];
afterAll(async () => {
  await Promise.all(createdDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});
async function syntheticRun(...args: Parameters<typeof writeSyntheticRun>): Promise<string> {
  const dir = await writeSyntheticRun(...args);
  createdDirs.push(dir);
  return dir;
}

describe('renderLineChart', () => {
  it('draws one path per series through every finite point and drops NaN', () => {
    const svg = renderLineChart(
      [
        {
          label: 'a',
          points: [
            { x: 0, y: 1 },
            { x: 1, y: Number.NaN },
            { x: 2, y: 3 },
          ],
        },
        {
          label: 'b',
          points: [
            { x: 0, y: 2 },
            { x: 2, y: 2 },
          ],
        },
      ],
      { title: 'T', xLabel: 'step' },
    );
    const paths = [...svg.matchAll(/<path class="line" d="([^"]+)"/g)].map((match) => match[1]);
    expect(paths).toHaveLength(2);
    expect(paths[0].match(/[ML]/g)).toHaveLength(2);
    expect(svg).not.toContain('NaN');
  });

  it('says "no data" instead of drawing an empty frame', () => {
    const svg = renderLineChart([{ label: 'a', points: [] }], { title: 'Empty', xLabel: 'step' });
    expect(svg).toContain('no data logged');
    expect(svg).not.toContain('<path');
  });

  it('picks round ticks covering the range', () => {
    expect(niceTicks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(3, 97, 5)).toEqual([0, 20, 40, 60, 80, 100]);
  });
});

describe('readRun / renderRunReport', () => {
  it('skips a truncated metrics line and says so in the report', async () => {
    const runDir = await syntheticRun({ epochs: 2, stepsPerEpoch: 3, extraMetricLines: ['{"step": 7, "loss": 1.'] });
    const run = await readRun(runDir);
    expect(run.metrics).toHaveLength(8);
    expect(run.skippedMetricLines).toBe(1);
    expect(renderRunReport(run)).toContain('1 line(s) of metrics.jsonl were not valid JSON');
  });

  it('escapes config values so a run directory cannot inject markup', async () => {
    const html = renderRunReport(await readRun(await syntheticRun({ epochs: 1, stepsPerEpoch: 2 })));
    expect(html).not.toContain('<script>');
    // Steps 1 and 2 logged 400 ms apart (Unix ms in `time`): 0.4 s of wall time, not 400 s.
    expect(html).toContain('<dd>0.4 s</dd>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('has no external references: every src is a data: URI and a CSP forbids the network', async () => {
    const html = renderRunReport(await readRun(await syntheticRun()));
    expect(html).toContain(`default-src 'none'`);
    const sources = [...html.matchAll(/\b(?:src|href)="([^"]*)"/g)].map((match) => match[1]);
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) expect(source.startsWith('data:')).toBe(true);
  });

  it('rejects a directory that is not a run, with an io error', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'ssl-not-a-run-'));
    createdDirs.push(empty);
    const failure = await readRun(empty).catch((error: unknown) => error);
    expect(isSslError(failure, 'io')).toBe(true);
    expect((failure as Error).message).toContain('not a training run directory');
  });

  it('shows each figure beside its random-init control, the gain and raw pixels; older eval.json files get dashes', async () => {
    const runDir = await syntheticRun({ epochs: 1, stepsPerEpoch: 2 });
    await writeFile(
      join(runDir, 'eval.json'),
      JSON.stringify({
        rows: [
          { name: 'kNN top-1', value: 0.673, randomInit: { value: 0.651 }, rawPixels: { value: 0.681 } },
          {
            name: 'linear probe top-1, 10 labels/class',
            value: 0.672,
            std: 0.02,
            randomInit: { value: 0.68, std: 0.031 },
            rawPixels: { value: 0.69, std: 0.015 },
          },
          { name: 'linear probe top-1', value: 0.8 },
        ],
      }),
    );
    const run = await readRun(runDir);
    expect(run.evaluation?.rows[1]).toMatchObject({ std: 0.02, randomInit: { value: 0.68, std: 0.031 } });
    const table = renderRunReport(run).match(/<table class="results" id="eval-table">.*?<\/table>/)?.[0] ?? '';
    const cells = [...table.matchAll(/<tr>(.*?)<\/tr>/g)]
      .slice(1)
      .map((row) => [...row[1].matchAll(/<t[hd][^>]*>(.*?)<\/t[hd]>/g)].map((cell) => cell[1]).slice(0, 5));
    expect(cells).toEqual([
      ['kNN top-1', '67.3%', '65.1%', '+2.2 pts', '68.1%'],
      ['linear probe top-1, 10 labels/class', '67.2 ± 2.0%', '68.0 ± 3.1%', '-0.8 pts', '69.0 ± 1.5%'],
      ['linear probe top-1', '80.0%', '—', '—', '—'],
    ]);
  });

  it('puts the results before the config, with the method classifier, the collapse verdict and 1-based counts as the terminal', async () => {
    const runDir = await syntheticRun({ epochs: 2, stepsPerEpoch: 3 });
    await writeFile(
      join(runDir, 'eval.json'),
      JSON.stringify({
        rows: [{ name: 'kNN top-1', value: 0.673, randomInit: { value: 0.651 }, rawPixels: { value: 0.681 } }],
        collapseVerdict: { verdict: 'no collapse', explanation: 'per-dimension std 0.052, effective rank 25.8' },
        classifier: { description: 'classifier top-1 (student)', accuracy: 0.64, control: { name: 'supervised-only', accuracy: 0.637 } },
      }),
    );
    const html = renderRunReport(await readRun(runDir));
    const at = (id: string) => html.indexOf(`<section id="${id}">`);
    expect(at('summary')).toBeLessThan(at('evaluation'));
    expect(at('evaluation')).toBeLessThan(at('training'));
    expect(at('training')).toBeLessThan(at('config'));
    // Steps 0..5 were logged: six trained, as the terminal's "step 6/6" says.
    expect(html).toContain('<dt>steps trained</dt><dd>6</dd>');
    expect(html).toContain('<p id="collapse-verdict"><strong>no collapse</strong>: per-dimension std 0.052, effective rank 25.8.</p>');
    const classifier = html.match(/<table class="results" id="classifier-table">.*?<\/table>/)?.[0] ?? '';
    expect([...classifier.matchAll(/<t[hd](?: [^>]*)?>(.*?)<\/t[hd]>/g)].map((cell) => cell[1])).toEqual([
      'figure',
      'method',
      'supervised-only',
      'gain',
      'classifier top-1 (student)',
      '64.0%',
      '63.7%',
      '+0.3 pts',
    ]);
  });

  it('rejects a malformed eval.json naming the expected shape', async () => {
    const runDir = await syntheticRun({ epochs: 1, stepsPerEpoch: 2 });
    await writeFile(join(runDir, 'eval.json'), JSON.stringify([{ name: 'knn', value: 0.5 }]));
    await expect(readRun(runDir)).rejects.toThrow(/"rows"/);
  });
});

const chromiumPath = findChromium();
if (chromiumPath === undefined) {
  console.warn(
    '[run-report.test] SKIPPING browser checks: no Chromium at /usr/bin/chromium (apt-get install -y chromium) and SSL_CHROMIUM unset.',
  );
}

describe.skipIf(chromiumPath === undefined)('report.html in headless Chromium', () => {
  it('renders without console errors or network requests, with plotted charts, tables and the embedding map', async () => {
    const runDir = await syntheticRun();
    const reportPath = await writeRunReport(runDir);
    expect(reportPath).toBe(join(runDir, 'report.html'));

    const observed = await withHeadlessChromium(async (context) => {
      const page = await context.newPage();
      const consoleErrors: string[] = [];
      const requests: string[] = [];
      page.on('console', (message) => {
        if (message.type() === 'error' || message.type() === 'warning') consoleErrors.push(message.text());
      });
      page.on('pageerror', (error) => consoleErrors.push(error.message));
      page.on('request', (request) => requests.push(request.url()));
      const reportUrl = pathToFileURL(reportPath).href;
      await page.goto(reportUrl, { waitUntil: 'load' });
      const charts = await page.$$eval('svg.chart', (svgs) =>
        svgs.map((svg) => {
          const box = svg.getBoundingClientRect();
          return {
            label: svg.getAttribute('aria-label') ?? '',
            width: box.width,
            height: box.height,
            pathLengths: [...svg.querySelectorAll('path.line')].map((path) =>
              (path as unknown as { getTotalLength(): number }).getTotalLength(),
            ),
          };
        }),
      );
      const evalRows = await page.$$eval('#eval-table tbody tr', (rows) => rows.map((row) => row.textContent ?? ''));
      const collapseRows = await page.$$eval('#collapse-table tbody tr', (rows) => rows.length);
      const configText = await page.$eval('#config', (section) => section.textContent ?? '');
      const mapSize = await page.$eval('#embedding-map img', (image) => ({
        width: (image as unknown as { naturalWidth: number }).naturalWidth,
        complete: (image as unknown as { complete: boolean }).complete,
      }));
      return {
        consoleErrors,
        requests: requests.filter((url) => url !== reportUrl && !url.startsWith('data:')),
        charts,
        evalRows,
        collapseRows,
        configText,
        mapSize,
      };
    });

    expect(observed.consoleErrors).toEqual([]);
    expect(observed.requests).toEqual([]);
    const byLabel = new Map(observed.charts.map((chart) => [chart.label, chart]));
    for (const label of ['Training loss', 'Learning rate', 'Online kNN accuracy', 'Collapse: effective_rank']) {
      const chart = byLabel.get(label);
      expect(chart, `chart ${label}`).toBeDefined();
      expect(chart!.width).toBeGreaterThan(100);
      expect(chart!.height).toBeGreaterThan(50);
      expect(chart!.pathLengths.length).toBeGreaterThan(0);
      // A real polyline through many points is long; a degenerate path (all points at one pixel) is ~0.
      expect(Math.min(...chart!.pathLengths)).toBeGreaterThan(50);
    }
    expect(observed.evalRows).toHaveLength(3);
    expect(observed.evalRows[0]).toContain('78.1%');
    expect(observed.collapseRows).toBe(2);
    expect(observed.configText).toContain('contrastive:simclr');
    expect(observed.mapSize).toEqual({ width: 200, complete: true });
  });

  it('screenshots the report to a PNG', async () => {
    const runDir = await syntheticRun({ epochs: 3, stepsPerEpoch: 10 });
    const reportPath = await writeRunReport(runDir);
    const outPath = join(runDir, 'shot.png');
    await screenshotReport(reportPath, outPath);
    const png = await readFile(outPath);
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect((await stat(outPath)).size).toBeGreaterThan(10_000);
  });
});
