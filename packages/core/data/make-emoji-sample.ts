/**
 * Writes the colour image sample bundled with @ssl/core (data/emoji-sample/): Noto Color Emoji glyphs rendered
 * by `renderEmojiSet` (composited on white, area-averaged to 32×32 RGB), labelled by Unicode emoji group, with
 * at most 200 training and 50 test images per group drawn with a fixed seed (People & Body alone has 2148
 * emoji, mostly skin-tone variants), in a seeded shuffled order so that any prefix is roughly balanced too.
 *
 *   node --conditions=@ssl/source --import tsx packages/core/data/make-emoji-sample.ts            # the sample
 *   node --conditions=@ssl/source --import tsx packages/core/data/make-emoji-sample.ts --full DIR # every emoji, for loadEmoji({ source: DIR })
 *
 * It installs the two Debian packages it reads (fonts-noto-color-emoji, unicode-data) when they are missing.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { subset } from '../src/data/dataset';
import { EMOJI_FILES, EMOJI_GROUPS, EMOJI_IMAGE_SIZE, EMOJI_SYSTEM_FILES, renderEmojiSet } from '../src/data/emoji';
import { makeDataset } from '../src/data/dataset';
import { encodeIdx } from '../src/data/idx';
import { Random } from '../src/random';

const SAMPLE_SEED = 20161010; // any fixed value would do
const PER_CLASS_CAP = { train: 200, test: 50 } as const;

function ensureDebianPackages(): void {
  const missing = [
    [EMOJI_SYSTEM_FILES.font, 'fonts-noto-color-emoji'],
    [EMOJI_SYSTEM_FILES.emojiTest, 'unicode-data'],
  ].filter(([path]) => !existsSync(path));
  if (missing.length === 0) return;
  const packages = missing.map(([, name]) => name);
  console.log(`installing ${packages.join(', ')}`);
  execFileSync('apt-get', ['install', '-y', '--no-install-recommends', ...packages], { stdio: 'inherit' });
}

function main(): void {
  ensureDebianPackages();
  const full = process.argv[2] === '--full';
  const outDir = full ? resolve(process.argv[3] ?? 'emoji') : join(dirname(fileURLToPath(import.meta.url)), 'emoji-sample');
  mkdirSync(outDir, { recursive: true });
  const fontBytes = new Uint8Array(readFileSync(EMOJI_SYSTEM_FILES.font));
  const emojiTest = readFileSync(EMOJI_SYSTEM_FILES.emojiTest, 'utf8');
  const random = new Random(SAMPLE_SEED);
  for (const split of ['train', 'test'] as const) {
    const rendered = renderEmojiSet(fontBytes, emojiTest, { split, size: EMOJI_IMAGE_SIZE, fontName: EMOJI_SYSTEM_FILES.font });
    if (rendered.missing.length > 0) console.warn(`${split}: ${rendered.missing.length} emoji have no glyph in the font and are left out`);
    const labels = Int32Array.from(rendered.entries, (entry) => entry.group);
    const all = makeDataset({
      images: rendered.images,
      shape: [EMOJI_IMAGE_SIZE, EMOJI_IMAGE_SIZE, 3],
      labels,
      classNames: [...EMOJI_GROUPS],
      name: `emoji/${split}`,
      size: labels.length,
    });
    let chosen: number[] = Array.from(labels, (_, i) => i);
    if (!full) {
      const byClass: number[][] = EMOJI_GROUPS.map(() => []);
      labels.forEach((label, index) => byClass[label].push(index));
      chosen = [];
      for (const indices of byClass) {
        const order = random.permutation(indices.length);
        for (let k = 0; k < Math.min(PER_CLASS_CAP[split], indices.length); k++) chosen.push(indices[order[k]]);
      }
      random.shuffle(chosen);
    }
    const sample = subset(all, chosen);
    const [imagesFile, labelsFile] = EMOJI_FILES[split];
    writeFileSync(join(outDir, imagesFile), encodeIdx([sample.size, EMOJI_IMAGE_SIZE, EMOJI_IMAGE_SIZE, 3], sample.images));
    writeFileSync(join(outDir, labelsFile), encodeIdx([sample.size], Uint8Array.from(sample.labels!)));
    const counts = EMOJI_GROUPS.map((_, c) => sample.labels!.filter((label) => label === c).length);
    console.log(`${split}: ${sample.size} of ${all.size} images; per group ${counts.join(' ')}`);
  }
}

main();
