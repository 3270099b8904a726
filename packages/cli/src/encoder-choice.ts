import { SslError, closestMatch, vitPreset, type EncoderSpec, type ImageShape } from '@ssl/core';

/**
 * The backbones `--encoder` accepts. ViT presets are named by size; their input shape is replaced by the
 * data's, so `vit28` (4×4 patches, 4 blocks) works on any 28×28 data and `vit-tiny` on larger images.
 */
export const ENCODER_CHOICES = ['cnn', 'resnet18', 'resnet34', 'resnet50', 'vit28', 'vit-tiny', 'vit-small', 'vit-base'] as const;
export type EncoderChoice = (typeof ENCODER_CHOICES)[number];

export function checkEncoderChoice(name: string): EncoderChoice {
  if ((ENCODER_CHOICES as readonly string[]).includes(name)) return name as EncoderChoice;
  const suggestion = closestMatch(name, [...ENCODER_CHOICES]);
  throw new SslError(
    'invalid-config',
    `Unknown --encoder ${JSON.stringify(name)}; choose one of ${ENCODER_CHOICES.join(', ')}.` + (suggestion ? ` Did you mean "${suggestion}"?` : ''),
  );
}

export function encoderSpecFor(choice: EncoderChoice, inputShape: ImageShape): EncoderSpec {
  switch (choice) {
    case 'cnn':
      return { kind: 'cnn', inputShape };
    case 'resnet18':
    case 'resnet34':
    case 'resnet50':
      return { kind: choice, inputShape };
    case 'vit28':
      return vitPreset('vit28', { inputShape });
    case 'vit-tiny':
      return vitPreset('tiny', { inputShape });
    case 'vit-small':
      return vitPreset('small', { inputShape });
    case 'vit-base':
      return vitPreset('base', { inputShape });
  }
}
