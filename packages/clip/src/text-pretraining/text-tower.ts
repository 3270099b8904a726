import { SslError, WordTokenizer } from '@ssl/core';
import type { Encoder, LoadedRun } from '@ssl/core';
import type { ClipConfig, ClipTextTower } from '../clip/clip';

/** A text tower trained by `masked:mlm`, with the `text` config CLIP needs to take it. */
export interface PretrainedTextTower extends ClipTextTower {
  readonly encoder: Encoder;
  /** `ClipConfig.text` of the tower's shape (bidirectional, as it was trained); pass it in CLIP's config. */
  readonly text: ClipConfig['text'];
}

interface MlmRunConfig {
  readonly text?: Omit<ClipConfig['text'], 'causal'>;
}

/**
 * The text tower of a finished `masked:mlm` run (`loadRun(outDir)`): its saved encoder (the bidirectional text
 * transformer), its tokenizer (with `<mask>`) and the `text` config of that shape, for `clipWithTextTower`:
 *
 *   const tower = textTowerFromRun(await loadRun('runs/mlm'));
 *   plugin methods: { clip: clipWithTextTower(tower) }, config: { text: tower.text }
 *
 * The run's networks stay the run's: CLIP copies the weights, so `run.dispose()` may follow the CLIP build.
 */
export function textTowerFromRun(run: LoadedRun): PretrainedTextTower {
  if (run.method !== 'masked:mlm')
    throw new SslError('io', `${run.dir} is a ${run.method} run; CLIP starts its text tower from a masked:mlm run.`);
  if (!run.encoder || run.encoder.kind !== 'text')
    throw new SslError('io', `${run.dir} has no saved text tower (encoder/model.json of kind 'text').`);
  const text = (run.config.config as MlmRunConfig | undefined)?.text;
  if (!text) throw new SslError('io', `${run.dir}/config.json has no config.text: not a masked:mlm run directory.`);
  return {
    tokenizer: WordTokenizer.fromJSON(run.json('tokenizer')),
    encoder: run.encoder as Encoder,
    text: { ...text, causal: false },
  };
}
