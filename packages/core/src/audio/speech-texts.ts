/**
 * What the speech sample says for each Fashion-MNIST class (in label order): the class name as people say
 * it, and a short description, so a class has more than one sound and a sound is not just a label.
 */
export const SPOKEN_CLASS_TEXTS: ReadonlyArray<readonly string[]> = [
  ['t-shirt', 'a short sleeved top'],
  ['trousers', 'a pair of trousers'],
  ['pullover', 'a warm pullover'],
  ['dress', 'a summer dress'],
  ['coat', 'a long coat'],
  ['sandal', 'an open sandal'],
  ['shirt', 'a button shirt'],
  ['sneaker', 'a running sneaker'],
  ['bag', 'a hand bag'],
  ['ankle boot', 'an ankle boot'],
];

/** An espeak-ng voice (`-v`, with a +variant), speed in words per minute (`-s`) and pitch 0–99 (`-p`). */
export interface SpeechVoice {
  readonly voice: string;
  readonly speed: number;
  readonly pitch: number;
}

/**
 * The voices of each split: the test split is spoken by a voice, variant, speed and pitch the train split
 * never hears, so a model that recognises it generalises across speakers rather than remembering recordings.
 */
export const SPEECH_VOICES: Readonly<Record<'train' | 'test', readonly SpeechVoice[]>> = {
  train: [
    { voice: 'en-us+m3', speed: 150, pitch: 45 },
    { voice: 'en-gb+f2', speed: 170, pitch: 60 },
    { voice: 'en-gb-scotland+m1', speed: 140, pitch: 40 },
    { voice: 'en-029+f4', speed: 160, pitch: 70 },
    { voice: 'en-gb-x-gbclan+m5', speed: 180, pitch: 35 },
  ],
  test: [{ voice: 'en-gb-x-rp+f3', speed: 155, pitch: 55 }],
};
