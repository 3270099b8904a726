import {
  ENCODER_PRESETS,
  SslError,
  closestMatch,
  encoderPreset,
  isSslError,
  withEncoderOptions,
  type EncoderSpec,
  type ImageShape,
} from '@ssl/core';

/**
 * The backbones `--encoder` accepts: core's encoder presets. ViT presets are named by size; their input shape
 * is replaced by the data's, so `vit28` (4×4 patches, 4 blocks) works on any 28×28 data and `vit-tiny` on
 * larger images.
 */
export const ENCODER_CHOICES = ENCODER_PRESETS;
export type EncoderChoice = (typeof ENCODER_CHOICES)[number];

export function checkEncoderChoice(name: string): EncoderChoice {
  if ((ENCODER_CHOICES as readonly string[]).includes(name)) return name as EncoderChoice;
  const suggestion = closestMatch(name, [...ENCODER_CHOICES]);
  throw new SslError(
    'invalid-config',
    `Unknown --encoder ${JSON.stringify(name)}; choose one of ${ENCODER_CHOICES.join(', ')}.` +
      (suggestion ? ` Did you mean "${suggestion}"?` : ''),
  );
}

/** The preset's spec with `"encoderOptions"` of --config applied; a bad option is named as that key of the file. */
export function encoderSpecFor(
  choice: EncoderChoice,
  inputShape: ImageShape,
  options: Readonly<Record<string, unknown>> = {},
): EncoderSpec {
  try {
    return withEncoderOptions(encoderPreset(choice, inputShape), options);
  } catch (error) {
    if (!isSslError(error, 'invalid-config')) throw error;
    throw new SslError('invalid-config', `--config "encoderOptions" with --encoder ${choice}: ${error.message}`, { cause: error });
  }
}
