import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isSslError } from '../errors';
import { Random } from '../random';
import {
  adjustHue,
  autoContrast,
  colorJitter,
  equalize,
  gaussianBlurImages,
  mixup,
  posterizeImages,
  randomGrayscale,
  sampleMixupLambda,
  solarizeImages,
} from './color';
import {
  applyCutout,
  cropAndResizeBoxes,
  flipImages,
  rotate,
  rotate90Images,
  sampleCropBoxes,
  sampleCutoutBoxes,
  translateReflect,
  affineImages,
  rotationMap,
} from './geometric';
import { RAND_AUGMENT_OPS, applyRandAugment, randAugment, sampleRandAugment } from './rand-augment';
import { applyViews } from './policies';
import {
  checkPolicyOptions as checkPolicyOptionsOf,
  checkViewPolicyOptions,
  colorJitterOp,
  defineViewPolicy,
  listViewPolicies,
  viewPolicy,
} from './view-policy';

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

let tensorsBefore = 0;
beforeEach(() => {
  tensorsBefore = tf.memory().numTensors;
});
afterEach(() => {
  // Every op must clean up after itself: the tests dispose what they keep.
  expect(tf.memory().numTensors).toBe(tensorsBefore);
});

/** [n, h, w, c] with distinct values v/(n*h*w*c) so positions can be traced. */
function distinct(n: number, h: number, w: number, c: number): tf.Tensor4D {
  const size = n * h * w * c;
  return tf.tensor4d(
    Float32Array.from({ length: size }, (_, i) => i / size),
    [n, h, w, c],
  );
}

function random4d(seed: number, shape: [number, number, number, number]): tf.Tensor4D {
  const rng = new Random(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor4d(
    Float32Array.from({ length: size }, () => rng.next()),
    shape,
  );
}

async function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  const d = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))));
  const value = (await d.data())[0];
  d.dispose();
  return value;
}

describe('geometric ops', () => {
  it('flip twice is the identity and flip mirrors columns', async () => {
    const x = distinct(2, 3, 4, 1);
    const once = flipImages(x);
    const twice = flipImages(once);
    expect(await maxAbsDiff(twice, x)).toBe(0);
    const a = (await x.array()) as number[][][][];
    const f = (await once.array()) as number[][][][];
    expect(f[1][2][0][0]).toBe(a[1][2][3][0]);
    tf.dispose([x, once, twice]);
  });

  it('random resized crop: output shape, and every value comes from inside its box', async () => {
    const [n, h, w] = [16, 20, 24];
    const x = distinct(n, h, w, 1);
    const source = (await x.array()) as number[][][][];
    const boxes = sampleCropBoxes(new Random(3), n, h, w, [0.08, 0.5]);
    const out = cropAndResizeBoxes(x, boxes, [10, 12]);
    expect(out.shape).toEqual([n, 10, 12, 1]);
    const values = (await out.array()) as number[][][][];
    for (let i = 0; i < n; i++) {
      const b = boxes[i];
      expect(b.top + b.height).toBeLessThanOrEqual(h);
      expect(b.left + b.width).toBeLessThanOrEqual(w);
      const inside = source[i].slice(b.top, b.top + b.height).flatMap((row) => row.slice(b.left, b.left + b.width).map((p) => p[0]));
      const lo = Math.min(...inside) - 1e-6;
      const hi = Math.max(...inside) + 1e-6;
      for (const row of values[i]) for (const [v] of row) expect(v >= lo && v <= hi).toBe(true);
    }
    tf.dispose([x, out]);
  });

  it('rotate90: four turns are the identity, one turn matches a hand-rotated image', async () => {
    const x = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 3, 3, 1]);
    const one = rotate90Images(x, [1]);
    // numpy.rot90 of [[1,2,3],[4,5,6],[7,8,9]] (counter-clockwise)
    expect(Array.from(await one.data())).toEqual([3, 6, 9, 2, 5, 8, 1, 4, 7]);
    const four = rotate90Images(x, [4]);
    let y = x;
    for (let k = 0; k < 4; k++) {
      const next = rotate90Images(y, [1]);
      if (y !== x) y.dispose();
      y = next;
    }
    expect(await maxAbsDiff(four, x)).toBe(0);
    expect(await maxAbsDiff(y, x)).toBe(0);
    const pair = tf.concat([x, x]) as tf.Tensor4D;
    const mixed = rotate90Images(pair, [0, 1]);
    expect(Array.from(await mixed.data())).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 3, 6, 9, 2, 5, 8, 1, 4, 7]);
    tf.dispose([x, one, four, y, mixed, pair]);
  });

  it('rotate by 0 is the identity and by 90 degrees equals rotate90', async () => {
    const x = distinct(3, 9, 9, 3);
    const zero = rotate(x, new Random(1), { degrees: [0, 0] });
    expect(await maxAbsDiff(zero, x)).toBeLessThan(1e-5);
    const ninety = affineImages(
      x,
      [0, 1, 2].map(() => rotationMap(90, 9, 9)),
    );
    const quarter = rotate90Images(x, [1, 1, 1]);
    expect(await maxAbsDiff(ninety, quarter)).toBeLessThan(1e-4);
    tf.dispose([x, zero, ninety, quarter]);
  });

  it('translate (reflect-pad + crop) keeps the shape and shifts content by at most the pad', async () => {
    const x = distinct(4, 8, 8, 1);
    const out = translateReflect(x, new Random(2), { fraction: 0.25 });
    expect(out.shape).toEqual([4, 8, 8, 1]);
    // Every output value is some input value of the same image (pure shift + reflection, no interpolation).
    const src = (await x.array()) as number[][][][];
    const dst = (await out.array()) as number[][][][];
    for (let i = 0; i < 4; i++) {
      const values = src[i].flat(2);
      for (const v of dst[i].flat(2)) expect(values.some((s) => Math.abs(s - v) < 1e-6)).toBe(true);
    }
    tf.dispose([x, out]);
  });

  it('cutout zeroes exactly a (clipped) square of the requested size', async () => {
    const [n, h, w] = [32, 10, 10];
    const x = tf.ones([n, h, w, 1]) as tf.Tensor4D;
    const boxes = sampleCutoutBoxes(new Random(4), n, h, w, 0.4, 1);
    const out = applyCutout(x, boxes);
    const values = (await out.array()) as number[][][][];
    let sawFull = false;
    for (let i = 0; i < n; i++) {
      const b = boxes[i];
      expect(b.y1 - b.y0).toBeLessThanOrEqual(4);
      expect(b.x1 - b.x0).toBeLessThanOrEqual(4);
      if (b.y1 - b.y0 === 4 && b.x1 - b.x0 === 4) sawFull = true;
      for (let y = 0; y < h; y++)
        for (let xx = 0; xx < w; xx++) {
          const inside = y >= b.y0 && y < b.y1 && xx >= b.x0 && xx < b.x1;
          expect(values[i][y][xx][0]).toBe(inside ? 0 : 1);
        }
    }
    expect(sawFull).toBe(true);
    tf.dispose([x, out]);
  });
});

describe('color ops', () => {
  it('solarize inverts values at or above the threshold and keeps the rest', async () => {
    const x = tf.tensor4d([0.1, 0.49, 0.5, 0.9, 0.1, 0.49, 0.5, 0.9], [2, 2, 2, 1]);
    const out = solarizeImages(x, [0.5, 2]);
    const v = Array.from(await out.data());
    [0.1, 0.49, 0.5, 0.1, 0.1, 0.49, 0.5, 0.9].forEach((e, i) => expect(v[i]).toBeCloseTo(e, 6));
    tf.dispose([x, out]);
  });

  it('grayscale, saturation and hue are the identity on 1-channel images; brightness/contrast are not', async () => {
    const x = random4d(5, [8, 6, 6, 1]);
    const gray = randomGrayscale(x, new Random(1), { p: 1 });
    expect(await maxAbsDiff(gray, x)).toBe(0);
    const satHue = colorJitter(x, new Random(1), { saturation: 0.9, hue: 0.4, p: 1 });
    expect(await maxAbsDiff(satHue, x)).toBe(0);
    const bc = colorJitter(x, new Random(1), { brightness: 0.5, contrast: 0.5, p: 1 });
    expect(bc.shape).toEqual(x.shape);
    expect(await maxAbsDiff(bc, x)).toBeGreaterThan(0.01);
    tf.dispose([x, gray, satHue, bc]);
  });

  it('hue shift of 0 and of a full turn are the identity; a third of a turn maps red to green', async () => {
    const x = random4d(6, [4, 5, 5, 3]);
    const zero = adjustHue(x, [0, 0, 0, 0]);
    expect(await maxAbsDiff(zero, x)).toBeLessThan(1e-5);
    const red = tf.tensor4d([0.8, 0.2, 0.2], [1, 1, 1, 3]);
    const green = adjustHue(red, [1 / 3]);
    const g = Array.from(await green.data());
    [0.2, 0.8, 0.2].forEach((e, i) => expect(g[i]).toBeCloseTo(e, 5));
    tf.dispose([x, zero, red, green]);
  });

  it('colorJitter with p = 0 is the identity and randomGrayscale gives equal RGB channels', async () => {
    const x = random4d(7, [6, 4, 4, 3]);
    const none = colorJitter(x, new Random(2), { brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1, p: 0 });
    expect(await maxAbsDiff(none, x)).toBeLessThan(1e-5);
    const gray = randomGrayscale(x, new Random(2), { p: 1 });
    const [r, g, b] = tf.split(gray, 3, 3);
    expect(await maxAbsDiff(r, g)).toBe(0);
    expect(await maxAbsDiff(g, b)).toBe(0);
    tf.dispose([x, none, gray, r, g, b]);
  });

  it('gaussian blur: sigma 0 is the identity, blur preserves a constant image and smooths an impulse', async () => {
    const x = random4d(8, [3, 9, 9, 1]);
    const same = gaussianBlurImages(x, [0, 0, 0], 5);
    expect(await maxAbsDiff(same, x)).toBeLessThan(1e-6);
    const flat = tf.fill([2, 7, 7, 3], 0.3) as tf.Tensor4D;
    const flatBlur = gaussianBlurImages(flat, [1, 2], 3);
    expect(await maxAbsDiff(flatBlur, flat)).toBeLessThan(1e-6);
    const impulse = tf.tensor4d(
      Float32Array.from({ length: 49 }, (_, i) => (i === 24 ? 1 : 0)),
      [1, 7, 7, 1],
    );
    const spread = gaussianBlurImages(impulse, [1], 3);
    const v = Array.from(await spread.data());
    expect(v[24]).toBeLessThan(1);
    expect(v[24]).toBeGreaterThan(v[23]);
    expect(v[23]).toBeCloseTo(v[25], 6);
    expect(Array.from(v).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    tf.dispose([x, same, flat, flatBlur, impulse, spread]);
  });

  it('posterize, autoContrast and equalize behave as their definitions', async () => {
    const x = tf.tensor4d([0, 37 / 255, 128 / 255, 200 / 255], [1, 2, 2, 1]);
    const poster = posterizeImages(x, [2]); // keep top 2 bits: multiples of 64
    expect(Array.from(await poster.data()).map((v) => Math.round(v * 255))).toEqual([0, 0, 128, 192]);
    const dim = tf.tensor4d([0.2, 0.3, 0.4, 0.6], [1, 2, 2, 1]);
    const stretched = autoContrast(dim);
    const s = Array.from(await stretched.data());
    [0, 0.25, 0.5, 1].forEach((e, i) => expect(s[i]).toBeCloseTo(e, 5));
    // Equalize on 4 distinct levels spreads them (PIL: step = (4-1)//255 = 0 → identity for tiny images).
    const equal = equalize(dim);
    const quantized = tf.tidy(() => tf.div(tf.round(tf.mul(dim, 255)), 255));
    expect(await maxAbsDiff(equal, quantized)).toBeLessThan(1e-6);
    // 32×32 using levels 100..103 equally: PIL's step = (1024-256)//255 = 3, lut = (1 + pixels below)//3.
    const narrow = tf.tensor4d(
      Float32Array.from({ length: 1024 }, (_, i) => (100 + (i % 4)) / 255),
      [1, 32, 32, 1],
    );
    const eq = equalize(narrow);
    const levels = new Set(Array.from(await eq.data()).map((v) => Math.round(v * 255)));
    expect([...levels].sort((a, b) => a - b)).toEqual([0, 85, 171, 255]);
    tf.dispose([x, poster, dim, stretched, equal, quantized, narrow, eq]);
  });

  it('mixup blends with lambda; Beta(α, α) samples lie in (0, 1)', async () => {
    const a = tf.ones([2, 2, 2, 1]) as tf.Tensor4D;
    const b = tf.zeros([2, 2, 2, 1]) as tf.Tensor4D;
    const m = mixup(a, b, [0.25, 1]);
    expect(Array.from(await m.data())).toEqual([0.25, 0.25, 0.25, 0.25, 1, 1, 1, 1]);
    const rng = new Random(3);
    const lambdas = Array.from({ length: 200 }, () => sampleMixupLambda(rng, 0.75));
    expect(lambdas.every((l) => l > 0 && l < 1)).toBe(true);
    expect(Math.abs(lambdas.reduce((s, l) => s + l, 0) / 200 - 0.5)).toBeLessThan(0.08);
    tf.dispose([a, b, m]);
  });
});

describe('RandAugment', () => {
  it('applies exactly N ops per image, each op implemented', async () => {
    const plan = sampleRandAugment(new Random(9), 64, { numOps: 3, magnitude: 9 });
    expect(plan.every((ops) => ops.length === 3)).toBe(true);
    expect(new Set(plan.flat().map((c) => c.op)).size).toBeGreaterThan(10);
    const x = random4d(10, [RAND_AUGMENT_OPS.length, 12, 12, 3]);
    // One op per image, every op once: all run and all but Identity change the image.
    const each = RAND_AUGMENT_OPS.map((op) => [{ op, level: 0.9, sign: 1 as const }]);
    const out = applyRandAugment(x, each);
    expect(out.shape).toEqual(x.shape);
    const changes = tf.tidy(() => tf.max(tf.abs(tf.sub(out, x)), [1, 2, 3]));
    const perImageChange = await changes.data();
    for (let i = 0; i < RAND_AUGMENT_OPS.length; i++) {
      const change = perImageChange[i];
      if (RAND_AUGMENT_OPS[i] === 'Identity') expect(change).toBe(0);
      else expect(change, RAND_AUGMENT_OPS[i]).toBeGreaterThan(1e-3);
    }
    tf.dispose([x, out, changes]);
  });

  it('translateFraction sets the largest RandAugment translation (torchvision 150/331 by default)', async () => {
    // A one-pixel-wide bright column; TranslateX at full level moves it by round(fraction × width) pixels.
    const width = 20;
    const values = new Float32Array(width * width);
    for (let y = 0; y < width; y++) values[y * width + 10] = 1;
    const x = tf.tensor4d(values, [1, width, width, 1]);
    const column = async (translateFraction?: number) => {
      const out = applyRandAugment(x, [[{ op: 'TranslateX', level: 1, sign: 1 }]], { translateFraction });
      const row = Array.from((await out.data()).slice(0, width));
      out.dispose();
      return row.indexOf(Math.max(...row));
    };
    const shift = async (fraction?: number) => Math.abs((await column(fraction)) - 10);
    expect(await shift(0.3)).toBe(6);
    expect(await shift()).toBe(Math.round((150 / 331) * width));
    expect(() => applyRandAugment(x, [[{ op: 'TranslateX', level: 1, sign: 1 }]], { translateFraction: 2 })).toThrow(/translateFraction/);
    x.dispose();
  });

  it('a plan of one Solarize equals solarize, and N rounds compose in order', async () => {
    const x = random4d(11, [2, 6, 6, 1]);
    const viaPlan = applyRandAugment(x, [[{ op: 'Solarize', level: 0.5, sign: 1 }], [{ op: 'Identity', level: 0, sign: 1 }]]);
    const direct = solarizeImages(x, [0.5, 2]);
    expect(await maxAbsDiff(viaPlan, direct)).toBe(0);
    const { images, plan } = randAugment(x, new Random(12), { numOps: 2, magnitude: 'random' });
    const replay = applyRandAugment(x, plan);
    expect(await maxAbsDiff(images, replay)).toBe(0);
    tf.dispose([x, viaPlan, direct, images, replay]);
  });
});

describe('view policies', () => {
  it("lists core's generic policies; a recipe that moved to its plugin is named in the error", () => {
    expect(listViewPolicies()).toEqual(['cropFlip', 'weak', 'none', 'mae']);
    try {
      viewPolicy('cropFlp');
      expect.unreachable();
    } catch (e) {
      expect(isSslError(e, 'invalid-config')).toBe(true);
      expect((e as Error).message).toContain('cropFlip, weak, none');
    }
    expect(() => viewPolicy('simclr')).toThrow(/moved to @ssl\/contrastive/);
    expect(() => viewPolicy('weakStrong')).toThrow(/moved to @ssl\/semisup/);
    // The deprecated name 'mae' still gives cropFlip's views.
    expect(viewPolicy('mae', { cropScale: [0.5, 1] }).views).toEqual(viewPolicy('cropFlip', { cropScale: [0.5, 1] }).views);
  });

  it('rejects unknown options and out-of-range values, naming the option', () => {
    const invalid = (run: () => unknown, text: string): void => {
      try {
        run();
        expect.unreachable();
      } catch (e) {
        expect(isSslError(e, 'invalid-config')).toBe(true);
        expect((e as Error).message).toContain(text);
      }
    };
    // A typo would otherwise train silently with the default.
    invalid(() => viewPolicy('cropFlip', { cropScal: [0.3, 1] }), 'cropFlip.cropScal');
    invalid(() => viewPolicy('cropFlip', { cropScal: [0.3, 1] }), 'cropScale, size, flipP');
    invalid(() => viewPolicy('cropFlip', { cropScale: [0.8, 0.2] }), 'cropFlip.cropScale');
    invalid(() => viewPolicy('cropFlip', { cropScale: [0, 1] }), 'cropFlip.cropScale');
    invalid(() => viewPolicy('cropFlip', { size: [28, 0] }), 'cropFlip.size');
    invalid(() => viewPolicy('weak', { flipP: Number.NaN }), 'weak.flipP');
    invalid(() => checkViewPolicyOptions('weak', { translateFraction: -1 }, 'views'), 'views.translateFraction');
    // Undefined means "default"; edge values are accepted.
    expect(viewPolicy('cropFlip', { cropScale: undefined, flipP: 0 }).views[0].ops[0]).toMatchObject({ scale: [0.2, 1] });
    expect(viewPolicy('none', { count: 0 }).views[0].count).toBe(0);
  });

  it("a plugin's own policy checks its options with its own rules and runs custom ops", async () => {
    const doubled = defineViewPolicy<{ gain?: number; jitterP?: number }>({
      name: 'doubled',
      description: 'test',
      options: { gain: { check: (v) => typeof v === 'number' && v > 1, expects: 'a number > 1' }, jitterP: 'probability' },
      create: (o) => ({
        name: 'doubled',
        views: [
          {
            name: 'bright',
            ops: [
              { op: 'custom', name: 'gain', apply: (x) => tf.clipByValue(tf.mul(x, o.gain ?? 2), 0, 1) as tf.Tensor4D },
              colorJitterOp(1, o.jitterP ?? 0),
            ],
          },
        ],
      }),
    });
    expect(() => checkPolicyOptionsOf(doubled, { gain: 0.5 })).toThrow(/doubled.gain = 0.5.*a number > 1/);
    const x = tf.fill([2, 4, 4, 1], 0.25) as tf.Tensor4D;
    const [view] = applyViews(doubled.create({ gain: 3 }), x, new Random(1));
    const expected = tf.fill([2, 4, 4, 1], 0.75) as tf.Tensor4D;
    expect(await maxAbsDiff(view, expected)).toBeLessThan(1e-6);
    tf.dispose([x, view, expected]);
  });

  it.each(listViewPolicies())('%s: shapes, [0,1] range, same seed same views, other seed other views', async (name) => {
    const x = random4d(13, [8, 28, 28, 1]);
    const policy = viewPolicy(name);
    const a = applyViews(policy, x, new Random(1));
    const b = applyViews(policy, x, new Random(1));
    const c = applyViews(policy, x, new Random(2));
    const expected = policy.views.reduce((s, v) => s + (v.count ?? 1), 0);
    expect(a.length).toBe(expected);
    for (let v = 0; v < a.length; v++) {
      expect(a[v].shape[0]).toBe(8);
      expect(a[v].shape[3]).toBe(1);
      expect(await maxAbsDiff(a[v], b[v])).toBe(0);
      const range = tf.tidy(() => [tf.min(a[v]), tf.max(a[v])]);
      const [lo, hi] = await Promise.all(range.map((t) => t.data()));
      expect(lo[0]).toBeGreaterThanOrEqual(-1e-6);
      expect(hi[0]).toBeLessThanOrEqual(1 + 1e-6);
      tf.dispose(range);
    }
    if (name !== 'none') {
      expect(await maxAbsDiff(a[0], c[0])).toBeGreaterThan(0.01);
      expect(await maxAbsDiff(a[0], x)).toBeGreaterThan(0.01);
    } else expect(await maxAbsDiff(a[0], x)).toBe(0);
    tf.dispose([x, ...a, ...b, ...c]);
  });

  it('works on RGB images and crops to a requested size', async () => {
    const x = random4d(14, [4, 32, 32, 3]);
    const views = applyViews(viewPolicy('cropFlip', { size: [16, 16] }), x, new Random(3));
    expect(views.map((v) => v.shape)).toEqual([[4, 16, 16, 3]]);
    const weakViews = applyViews(viewPolicy('weak'), x, new Random(3));
    expect(weakViews[0].shape).toEqual([4, 32, 32, 3]);
    tf.dispose([x, ...views, ...weakViews]);
  });
});
