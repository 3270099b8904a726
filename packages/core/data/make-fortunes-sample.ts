/**
 * Writes the English text sample bundled with @ssl/core (data/fortunes-sample/, `loadFortunesSample`): sentences of ten prose
 * files of Debian's `fortunes` package (BSD licence, see fortunes-sample/LICENSE), one a line, shuffled with a
 * fixed seed and split 90% / 10% into train and test (held-out) sentences.
 *
 *   apt-get install -y fortunes
 *   node --conditions=@ssl/source --import tsx packages/core/data/make-fortunes-sample.ts [fortunesDir]
 *
 * With `--all` it writes every prose file of the package instead (to `--out <dir>`, default /tmp/fortunes-all):
 * the larger corpus for experiments (`word2vec-probes.ts --corpus <dir>`).
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { Random } from '../src/random';

/** Prose files of the sample (the `fortunes` package's plain sayings, quotations and jokes). */
const SAMPLE_FILES = ['fortunes', 'wisdom', 'literature', 'people', 'humorists', 'platitudes', 'science', 'work', 'food', 'education'];
/** Files that are pictures, code or mostly non-English: left out of `--all`. */
const NOT_PROSE = new Set(['art', 'ascii-art', 'perl', 'translate-me', 'zippy']);
const SAMPLE_SEED = 1995; // fortune-mod's Linux port; any fixed value would do
const TEST_SHARE = 0.1;

/**
 * The sentences of a fortune file: entries are separated by lines holding only '%'; attribution lines
 * ("-- Mark Twain") and lines of a picture or a dialogue script are dropped; an entry's lines are joined and
 * split after '.', '!' or '?'; sentences of fewer than 3 words are dropped. Text is kept as written.
 */
function fortuneFileSentences(text: string): string[] {
  return text
    .split(/^%$/m)
    .map((entry) =>
      entry
        .split('\n')
        .filter((line) => !/^\s*--/.test(line))
        .join(' ')
        .replace(/\s+/g, ' ')
        .trim(),
    )
    .flatMap((entry) => entry.split(/(?<=[.!?])\s+/))
    .filter((sentence) => (sentence.match(/\p{L}+/gu) ?? []).length >= 3);
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { all: { type: 'boolean', default: false }, out: { type: 'string', default: '/tmp/fortunes-all' } },
});
const fortunesDir = positionals[0] ?? '/usr/share/games/fortunes';
if (!existsSync(fortunesDir)) throw new Error(`${fortunesDir} is missing: apt-get install -y fortunes (or pass the directory).`);
const files = values.all ? readdirSync(fortunesDir).filter((file) => !file.includes('.') && !NOT_PROSE.has(file)) : SAMPLE_FILES;
const sentences = files.flatMap((file) => fortuneFileSentences(readFileSync(join(fortunesDir, file), 'utf8')));
const unique = [...new Set(sentences)];
new Random(SAMPLE_SEED).shuffle(unique);
const testCount = Math.round(TEST_SHARE * unique.length);
const outDir = values.all ? values.out : join(dirname(fileURLToPath(import.meta.url)), 'fortunes-sample');
mkdirSync(outDir, { recursive: true });
const write = (name: string, lines: string[]) => writeFileSync(join(outDir, name), gzipSync(`${lines.join('\n')}\n`, { level: 9 }));
write('train-sentences.txt.gz', unique.slice(testCount));
write('test-sentences.txt.gz', unique.slice(0, testCount));
const words = (lines: string[]) => lines.reduce((n, line) => n + (line.match(/\p{L}+/gu) ?? []).length, 0);
console.log(
  `${files.length} files → ${unique.length} sentences: train ${unique.length - testCount} (${words(unique.slice(testCount))} words), test ${testCount} (${words(unique.slice(0, testCount))} words) in ${outDir}`,
);
