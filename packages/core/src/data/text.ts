import { SslError } from '../errors';
import { splitWords } from '../nn/tokenizer';
import { defineDataKind } from '../train/data-kinds';
import { rangeIds } from '../train/pools';

/** A corpus of texts (sentences, captions, paragraphs): the data of text methods (`contrastive:word2vec`, `masked:mlm`). */
export interface TextCorpus {
  readonly name: string;
  readonly texts: readonly string[];
}

/** A batch of texts: the texts of `indices`, the sample ids the epoch visits. */
export interface TextBatch {
  readonly kind: 'text';
  readonly texts: readonly string[];
  /** Sample id of each text (its row in the corpus). */
  readonly indices: Int32Array;
}

/** A corpus from texts (empty and blank ones dropped). */
export function textCorpus(texts: Iterable<string>, name = 'texts'): TextCorpus {
  return { name, texts: [...texts].filter((text) => text.trim().length > 0) };
}

/** True for a `TextCorpus` ({ name, texts: string[] }). */
export function isTextCorpus(data: unknown): data is TextCorpus {
  return typeof data === 'object' && data !== null && Array.isArray((data as Partial<TextCorpus>).texts);
}

function hasCaptions(data: unknown): data is { readonly name: string; readonly captions: readonly string[] } {
  return typeof data === 'object' && data !== null && Array.isArray((data as { captions?: unknown }).captions);
}

/**
 * The 'text' data kind: train() on a `TextCorpus` ({ name, texts }), or on image–caption pairs, whose captions are a
 * corpus too. Epochs pass over every text; a batch is the texts of the step's sample ids. The corpus reaches the
 * method's build as `captions` (BuildContext's field for methods that fit a vocabulary). Core's kinds are always
 * there; this one is registered by the plugins whose methods train on text (`definePlugin({ dataKinds: { text:
 * textData } })`): the same definition from two plugins is one kind, not a conflict.
 */
export const textData = defineDataKind<'text'>({
  name: 'text',
  description: 'a corpus of texts ({ name, texts }) or the captions of image–caption pairs; epochs pass over every text',
  open(data, methodId) {
    const corpus: TextCorpus | undefined = isTextCorpus(data)
      ? data
      : hasCaptions(data)
        ? { name: `${data.name}:captions`, texts: data.captions }
        : undefined;
    if (!corpus)
      throw new SslError('data', `${methodId} trains on text: pass { name, texts } (see textCorpus, loadFortunesSample) or image–caption pairs.`);
    if (corpus.texts.length === 0) throw new SslError('data', `Corpus ${corpus.name} is empty: nothing to train on.`);
    const { texts } = corpus;
    return {
      // No inputShape: a corpus has no images, so the run has no image encoder (text methods build their own).
      name: corpus.name,
      captions: texts,
      sampleCount: texts.length,
      initialPools: { texts: { ids: rangeIds(texts.length) } },
      epochPool: 'texts',
      images() {
        throw new SslError('data', `${methodId}: the corpus ${corpus.name} holds texts, not images.`);
      },
      batch({ ids }) {
        return {
          batch: { kind: 'text' as const, texts: Array.from(ids, (id) => texts[id]), indices: ids },
          owned: [],
          imageCount: ids.length,
        };
      },
      describe: () => ({ name: corpus.name, texts: texts.length }),
    };
  },
});

/**
 * Sentences of a fortune file (`%`-separated entries, as in Debian's `fortunes`): each entry split after `.`, `!`
 * and `?`, each sentence's words (`splitWords`: lower case, runs of letters) joined by spaces, sentences of
 * fewer than 3 words dropped.
 */
export function fortuneSentences(fileText: string): string[] {
  return fileText
    .split(/^%$/m)
    .flatMap((entry) => entry.split(/(?<=[.!?])\s+/))
    .map((sentence) => splitWords(sentence).join(' '))
    .filter((sentence) => sentence.split(' ').length >= 3);
}
