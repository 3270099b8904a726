import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { inputShapeOf, loadRunData } from '../src/load-run-data';
import { describeDataSource, resolveDataSource } from '../src/options';

const dir = mkdtempSync(join(tmpdir(), 'ssl-cli-text-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('--data for text methods', () => {
  it('names the bundled fortunes sample, whose held-out sentences come with it', async () => {
    const source = await resolveDataSource('fortunes-sample', dir);
    expect(source).toEqual({ kind: 'text-sample', name: 'fortunes-sample' });
    expect(describeDataSource(source)).toBe('fortunes-sample');
    // A corpus has no images: no image shape, so the run has no image encoder.
    expect(inputShapeOf(source, { size: 32, channels: 3 })).toBeUndefined();
    const data = await loadRunData(source, { geometry: { size: 32, channels: 3 }, seed: 0, needEvaluation: true });
    expect((data.train as { texts: string[] }).texts).toHaveLength(7156);
    expect((data.heldOut as { texts: string[] }).texts).toHaveLength(795);
    expect(data.evaluationTrain).toBeUndefined();
  });

  it('reads a .txt (or .txt.gz) file as a corpus, one text a line, and still refuses other files', async () => {
    writeFileSync(join(dir, 'corpus.txt'), 'one line here\nanother line there\n');
    const source = await resolveDataSource('corpus.txt', dir);
    expect(source).toEqual({ kind: 'text-file', path: join(dir, 'corpus.txt') });
    const data = await loadRunData(source, { geometry: { size: 32, channels: 3 }, seed: 0, needEvaluation: true });
    expect(data.train).toEqual({ name: 'corpus.txt', texts: ['one line here', 'another line there'] });
    writeFileSync(join(dir, 'notes.md'), '# no');
    await expect(resolveDataSource('notes.md', dir)).rejects.toThrow(/text \(\.txt, \.txt\.gz\)/);
  });
});
