import { existsSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EMOJI_GROUPS, EMOJI_SYSTEM_FILES, areaResize, emojiSplitOf, loadEmoji, parseEmojiTest, renderEmojiSet, renderGlyph } from './emoji';

describe('areaResize', () => {
  it('averages the covered source pixels, partial pixels by their covered share (plain-loop reference)', () => {
    const height = 5;
    const width = 3;
    const image = Float32Array.from({ length: height * width * 2 }, (_, i) => (i * 7) % 11);
    const outH = 2;
    const outW = 2;
    const out = areaResize(image, height, width, 2, outH, outW);
    for (let y = 0; y < outH; y++) {
      for (let x = 0; x < outW; x++) {
        for (let c = 0; c < 2; c++) {
          // Integrate over a fine grid of the output pixel's source area.
          let sum = 0;
          const steps = 600;
          for (let i = 0; i < steps; i++) {
            for (let j = 0; j < steps; j++) {
              const sy = Math.floor(((y + (i + 0.5) / steps) * height) / outH);
              const sx = Math.floor(((x + (j + 0.5) / steps) * width) / outW);
              sum += image[(sy * width + sx) * 2 + c];
            }
          }
          expect(out[(y * outW + x) * 2 + c]).toBeCloseTo(sum / steps / steps, 2);
        }
      }
    }
  });

  it('keeps the mean of the image and is the identity at the same size', () => {
    const image = Float32Array.from({ length: 9 * 9 }, (_, i) => Math.sin(i) * 100);
    const mean = (values: Float32Array): number => values.reduce((a, b) => a + b, 0) / values.length;
    expect(mean(areaResize(image, 9, 9, 1, 4, 4))).toBeCloseTo(mean(image), 3);
    expect(Array.from(areaResize(image, 9, 9, 1, 9, 9))).toEqual(Array.from(image));
  });
});

describe('renderGlyph', () => {
  it('composites on white (or the given background) by alpha and centres the glyph on a square', () => {
    // A 2×4 glyph (wide): opaque red, half-transparent blue, transparent.
    const rgba = new Uint8Array(2 * 4 * 4);
    for (let p = 0; p < 8; p++) rgba.set(p < 4 ? [255, 0, 0, 255] : [0, 0, 255, 0], 4 * p);
    rgba.set([0, 0, 255, 128], 4 * 5);
    const out = renderGlyph({ width: 4, height: 2, rgba }, 4);
    const pixel = (y: number, x: number): number[] => Array.from(out.subarray(3 * (y * 4 + x), 3 * (y * 4 + x) + 3));
    // Canvas 4×4, glyph rows 1 and 2; rows 0 and 3 are the white background.
    expect(pixel(0, 0)).toEqual([255, 255, 255]);
    expect(pixel(3, 2)).toEqual([255, 255, 255]);
    expect(pixel(1, 3)).toEqual([255, 0, 0]);
    expect(pixel(2, 1)).toEqual([127, 127, 255]); // 128/255 blue over white
    expect(pixel(2, 2)).toEqual([255, 255, 255]);
    const onBlack = renderGlyph({ width: 4, height: 2, rgba }, 4, [0, 0, 0]);
    expect(Array.from(onBlack.subarray(0, 3))).toEqual([0, 0, 0]);
    expect(Array.from(onBlack.subarray(3 * (2 * 4 + 1), 3 * (2 * 4 + 1) + 3))).toEqual([0, 0, 128]);
  });
});

const EMOJI_TEST_EXCERPT = `# group: Smileys & Emotion
# subgroup: face-smiling
1F600                                                  ; fully-qualified     # 😀 E1.0 grinning face
263A FE0F                                              ; fully-qualified     # ☺️ E0.6 smiling face
263A                                                   ; unqualified         # ☺ E0.6 smiling face
# group: People & Body
# subgroup: hand-fingers-open
1F44B 1F3FD                                            ; fully-qualified     # 👋🏽 E1.0 waving hand: medium skin tone
# group: Component
# subgroup: skin-tone
1F3FB                                                  ; component           # 🏻 E1.0 light skin tone
# group: Flags
# subgroup: country-flag
1F1E6 1F1E8                                            ; fully-qualified     # 🇦🇨 E2.0 flag: Ascension Island
`;

describe('parseEmojiTest', () => {
  it('keeps fully-qualified emoji with their group index, subgroup and name, without the Component group', () => {
    expect(parseEmojiTest(EMOJI_TEST_EXCERPT)).toEqual([
      { codePoints: [0x1f600], group: 0, subgroup: 'face-smiling', name: 'grinning face' },
      { codePoints: [0x263a, 0xfe0f], group: 0, subgroup: 'face-smiling', name: 'smiling face' },
      { codePoints: [0x1f44b, 0x1f3fd], group: 1, subgroup: 'hand-fingers-open', name: 'waving hand: medium skin tone' },
      { codePoints: [0x1f1e6, 0x1f1e8], group: 8, subgroup: 'country-flag', name: 'flag: Ascension Island' },
    ]);
  });
});

describe('emojiSplitOf', () => {
  it('puts the skin-tone variants of an emoji on the side of the emoji and about a fifth of emoji in test', () => {
    let test = 0;
    for (let codePoint = 0x1f400; codePoint < 0x1f600; codePoint++) {
      const split = emojiSplitOf([codePoint]);
      if (split === 'test') test++;
      for (const tone of [0x1f3fb, 0x1f3fc, 0x1f3fd, 0x1f3fe, 0x1f3ff]) expect(emojiSplitOf([codePoint, tone, 0xfe0f])).toBe(split);
    }
    expect(test / 512).toBeGreaterThan(0.15);
    expect(test / 512).toBeLessThan(0.25);
  });
});

describe('loadEmoji', () => {
  it('loads the bundled sample: 32×32 RGB, nine groups, at most 200/50 per group', async () => {
    const train = await loadEmoji({ split: 'train' });
    const test = await loadEmoji({ split: 'test', source: 'sample' });
    expect(train.shape).toEqual([32, 32, 3]);
    expect([train.size, test.size]).toEqual([1372, 355]);
    expect(train.classNames).toEqual([...EMOJI_GROUPS]);
    expect(train.numClasses).toBe(9);
    const counts = (labels: Int32Array): number[] => EMOJI_GROUPS.map((_, c) => labels.filter((label) => label === c).length);
    expect(counts(train.labels!)).toEqual([133, 200, 126, 101, 171, 63, 200, 178, 200]);
    expect(counts(test.labels!)).toEqual([33, 50, 26, 32, 47, 22, 50, 45, 50]);
    // Colour images on white: corners are white, and a good share of pixels is far from grey.
    let chromatic = 0;
    for (let p = 0; p < train.images.length; p += 3) {
      const [r, g, b] = train.images.subarray(p, p + 3);
      if (Math.max(r, g, b) - Math.min(r, g, b) > 60) chromatic++;
    }
    expect(chromatic / (train.images.length / 3)).toBeGreaterThan(0.2);
    expect(Array.from(train.images.subarray(0, 3))).toEqual([255, 255, 255]);
  });

  it('resizes and converts to luma on request', async () => {
    const rgb = await loadEmoji({ split: 'test' });
    const grey = await loadEmoji({ split: 'test', size: 16, channels: 1 });
    expect(grey.shape).toEqual([16, 16, 1]);
    expect(grey.size).toBe(rgb.size);
    // Output pixel (0,0) of image 3 is the mean luma of the 2×2 block it covers.
    let luma = 0;
    for (const [y, x] of [
      [0, 0],
      [0, 1],
      [1, 0],
      [1, 1],
    ]) {
      const at = (3 * 32 * 32 + y * 32 + x) * 3;
      luma += (0.299 * rgb.images[at] + 0.587 * rgb.images[at + 1] + 0.114 * rgb.images[at + 2]) / 4;
    }
    expect(Math.abs(grey.images[3 * 16 * 16] - luma)).toBeLessThanOrEqual(0.5 + 1e-9);
  });

  it('rejects a bad split, size or channel count with the field named', async () => {
    await expect(loadEmoji({ split: 'val' as 'test' })).rejects.toThrow(/split/);
    await expect(loadEmoji({ size: 2 })).rejects.toThrow(/size/);
    await expect(loadEmoji({ channels: 2 as 1 })).rejects.toThrow(/channels/);
    await expect(loadEmoji({ source: '/nonexistent-emoji-dir' })).rejects.toThrow(/does not exist/);
  });

  const haveFont = existsSync(EMOJI_SYSTEM_FILES.font) && existsSync(EMOJI_SYSTEM_FILES.emojiTest);
  it.skipIf(!haveFont)('renders every emoji from the installed font, and the sample is made of those images', async () => {
    const rendered = renderEmojiSet(new Uint8Array(readFileSync(EMOJI_SYSTEM_FILES.font)), readFileSync(EMOJI_SYSTEM_FILES.emojiTest, 'utf8'), {
      split: 'test',
    });
    expect(rendered.missing).toEqual([]);
    expect(rendered.entries.length).toBe(786);
    const digest = (bytes: Uint8Array): string => createHash('sha1').update(bytes).digest('hex');
    const full = new Map<string, number>();
    rendered.entries.forEach((entry, i) => full.set(digest(rendered.images.subarray(i * 3072, (i + 1) * 3072)), entry.group));
    const sample = await loadEmoji({ split: 'test' });
    for (let i = 0; i < sample.size; i++) expect(full.get(digest(sample.images.subarray(i * 3072, (i + 1) * 3072)))).toBe(sample.labels![i]);
  }, 60_000);
  if (!haveFont) console.log(`emoji: ${EMOJI_SYSTEM_FILES.font} or ${EMOJI_SYSTEM_FILES.emojiTest} missing; the full-set test is skipped (apt-get install fonts-noto-color-emoji unicode-data)`);
});
