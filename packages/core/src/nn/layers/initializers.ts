import * as tfl from '@tensorflow/tfjs-layers';

import { Random } from '../../random';

type Initializer = ReturnType<typeof tfl.initializers.zeros>;

/**
 * Hands out weight initializers. With a seed every initializer gets its own seed drawn from one
 * `Random` stream, so building the same spec twice gives the same weights; without one tfjs draws
 * from Math.random as usual.
 */
export class InitializerSource {
  private readonly random: Random | null;

  constructor(seed?: number) {
    this.random = seed === undefined ? null : new Random(seed);
  }

  private nextSeed(): number | undefined {
    return this.random === null ? undefined : this.random.nextUint32();
  }

  /** tfjs default for Dense/Conv2D. */
  glorotUniform(): Initializer {
    return tfl.initializers.glorotUniform({ seed: this.nextSeed() });
  }

  /** Kaiming normal, fan_out, as torchvision initializes ResNet convolutions (He et al. 2015). */
  heNormalFanOut(): Initializer {
    return tfl.initializers.varianceScaling({
      scale: 2,
      mode: 'fanOut',
      distribution: 'normal',
      seed: this.nextSeed(),
    });
  }

  /** Truncated normal (std 0.02) used by ViT/DINO for linear layers and embeddings. */
  truncatedNormal(stddev = 0.02): Initializer {
    return tfl.initializers.truncatedNormal({ stddev, seed: this.nextSeed() });
  }

  /** A seed for a custom layer that draws its own initial values. */
  layerSeed(): number | undefined {
    return this.nextSeed();
  }
}

export type { Initializer };
