import { invalidConfig, tfl } from '@ssl/core';

export interface PixelDecoderOptions {
  /** Width of the code the decoder reads (the encoder's featureDim). */
  readonly inputDim: number;
  /** A linear layer to this width first (the DAE's bottleneck); 0 reads the code as it is. */
  readonly bottleneck: number;
  /** Hidden ReLU layer width; 0 for a single linear map (then sigmoid) from the code to the pixels. */
  readonly hidden: number;
  /** [height, width, channels] of the images it reconstructs. */
  readonly outputShape: readonly [number, number, number];
  readonly seed?: number;
}

/** Seeded Glorot-uniform initializers, one fresh seed per layer, so a decoder is a function of its seed. */
export function glorotSource(seed: number | undefined): () => ReturnType<typeof tfl.initializers.glorotUniform> {
  let next = seed ?? 0;
  return () => tfl.initializers.glorotUniform({ seed: seed === undefined ? undefined : next++ });
}

/**
 * The DAE decoder g: code → [bottleneck (linear)] → [hidden, ReLU] → H·W·C (sigmoid, pixels in [0, 1]) →
 * [H, W, C]. Vincent et al. 2010 use affine + sigmoid maps on both sides; the hidden layer lets a small
 * code drive a 784-pixel output without a single linear read-out limiting the reconstruction.
 */
export function buildPixelDecoder(options: PixelDecoderOptions): tfl.LayersModel {
  const { inputDim, bottleneck, hidden, outputShape } = options;
  if (!Number.isInteger(bottleneck) || bottleneck < 0) invalidConfig('bottleneck', bottleneck, 'an integer ≥ 0 (0: no bottleneck layer)');
  if (!Number.isInteger(hidden) || hidden < 0) invalidConfig('decoderHidden', hidden, 'an integer ≥ 0 (0: no hidden layer)');
  const init = glorotSource(options.seed);
  const input = tfl.input({ shape: [inputDim] });
  let x: tfl.SymbolicTensor = input;
  if (bottleneck > 0) x = tfl.layers.dense({ units: bottleneck, kernelInitializer: init() }).apply(x) as tfl.SymbolicTensor;
  if (hidden > 0) x = tfl.layers.dense({ units: hidden, activation: 'relu', kernelInitializer: init() }).apply(x) as tfl.SymbolicTensor;
  const pixels = outputShape[0] * outputShape[1] * outputShape[2];
  x = tfl.layers.dense({ units: pixels, activation: 'sigmoid', kernelInitializer: init() }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.reshape({ targetShape: [...outputShape] }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: x });
}
