import { existsSync, readFileSync } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { SslError } from '../errors';
import type { MethodProducts, MethodRuntime, Product } from '../method';
import type { AnyEncoder, Encoder, EncoderSpec, LoadEncoderOptions } from '../nn';
import { MODEL_FILE, loadEncoder, loadNetwork, saveEncoder, saveNetwork } from '../nn';
import type { JsonValue } from './checkpoint';

/**
 * A run directory's exports: `encoder/` (the representation, written by the trainer), `products/index.json`
 * naming each product and its kind, `products/<name>/` (model.json + weights.bin, the tfjs LayersModel
 * format) for networks and `products/<name>.json` for JSON artifacts.
 */
export const PRODUCTS_DIR = 'products';
export const PRODUCTS_INDEX = 'index.json';
const PRODUCT_NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;

export type ProductKind = 'encoder' | 'network' | 'json';

export interface ProductsIndex {
  readonly format: 'ssl-products';
  readonly version: 1;
  readonly method: string;
  /** Global steps the run had completed when the products were saved. */
  readonly step: number;
  /** True when the run stopped early (a signal, an abort): the products are of an unfinished run. */
  readonly interrupted: boolean;
  readonly products: { readonly [name: string]: { readonly kind: ProductKind; readonly path: string } };
}

function isEncoder(product: Product): product is Encoder {
  return typeof (product as Encoder).features === 'function' && typeof (product as Encoder).model === 'object';
}

function isJson(product: Product): product is { readonly json: JsonValue } {
  return 'json' in product && !('save' in product);
}

/** Writes and fsyncs a file, so the rename that publishes the products directory never exposes empty files. */
async function writeDurable(path: string, text: string): Promise<void> {
  const handle = await open(path, 'w');
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Saves a runtime's products under `<outDir>/products/`, replacing the previous set as a whole (temp dir + rename). */
export async function saveProducts(
  outDir: string,
  runtime: MethodRuntime,
  info: { method: string; step: number; interrupted: boolean },
): Promise<void> {
  if (!runtime.products) return;
  const products: MethodProducts = runtime.products();
  const temporary = join(outDir, `.${PRODUCTS_DIR}.tmp-${process.pid}`);
  await rm(temporary, { recursive: true, force: true });
  await mkdir(temporary, { recursive: true });
  const index: Record<string, { kind: ProductKind; path: string }> = {};
  for (const [name, product] of Object.entries(products)) {
    if (!PRODUCT_NAME.test(name) || name === 'index') {
      throw new SslError(
        'invalid-config',
        `${info.method}: product name "${name}" is not an identifier (letters, digits, _ and -, not "index").`,
      );
    }
    if (isJson(product)) {
      await writeDurable(join(temporary, `${name}.json`), JSON.stringify(product.json));
      index[name] = { kind: 'json', path: `${name}.json` };
    } else if (isEncoder(product)) {
      const spec = (product as Encoder & { readonly spec?: EncoderSpec }).spec;
      if (spec) await saveEncoder(product as Encoder & { readonly spec: EncoderSpec }, join(temporary, name));
      else await saveNetwork(product.model, join(temporary, name));
      index[name] = { kind: spec ? 'encoder' : 'network', path: name };
    } else {
      await saveNetwork(product, join(temporary, name));
      index[name] = { kind: 'network', path: name };
    }
  }
  const body: ProductsIndex = {
    format: 'ssl-products',
    version: 1,
    method: info.method,
    step: info.step,
    interrupted: info.interrupted,
    products: index,
  };
  await writeDurable(join(temporary, PRODUCTS_INDEX), JSON.stringify(body, null, 2));
  const target = join(outDir, PRODUCTS_DIR);
  await rm(target, { recursive: true, force: true });
  await rename(temporary, target);
}

/** A loaded product; `E` is `Encoder` when the run was loaded with plugin encoder kinds (`loadRun(dir, { encoders })`). */
export type LoadedProduct<E extends Encoder = AnyEncoder> =
  | { readonly kind: 'encoder'; readonly encoder: E }
  | { readonly kind: 'network'; readonly model: LayersModel }
  | { readonly kind: 'json'; readonly value: JsonValue };

/**
 * A finished (or stopped) run, loaded from its directory: what `train()` saved, ready to use. Its encoders are of
 * core's kinds (`AnyEncoder`), or any `Encoder` when it was loaded with plugin encoder kinds.
 */
export interface LoadedRun<E extends Encoder = AnyEncoder> {
  readonly dir: string;
  /** The method that trained it, e.g. 'clip:clip'. */
  readonly method: string;
  /** config.json: the method's config, the encoder spec, data and training settings. */
  readonly config: { readonly [key: string]: JsonValue };
  /** The representation (`<dir>/encoder`); undefined when the encoder could not be saved (a plugin encoder without a spec). */
  readonly encoder?: E;
  readonly products: Readonly<Record<string, LoadedProduct<E>>>;
  /** Global steps the run had completed when its products were saved, and whether it stopped early. */
  readonly step?: number;
  readonly interrupted?: boolean;
  /** A product that is an Encoder; throws SslError('io') naming the products there are. */
  encoderProduct(name: string): E;
  /** A product that is a network (an Encoder product gives its model). */
  network(name: string): LayersModel;
  /** A JSON artifact. */
  json<T = JsonValue>(name: string): T;
  /** Frees every loaded network. */
  dispose(): void;
}

function readJson(path: string, what: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new SslError('io', `Could not read ${what} (${path}): ${(error as Error).message}`, { cause: error, details: { file: path } });
  }
}

/**
 * Loads what a run saved in `dir` (a `train({ outDir })` or `ssl pretrain --out` directory): its config, the
 * encoder and every product the method declared. Products of a method's own kinds are assembled by its
 * plugin (e.g. @ssl/clip's `clipModelFromRun`, @ssl/semisup's `classify(run, images)`). Encoders of a plugin's
 * kind (e.g. @ssl/masked's 'stacked-dae') need `options.encoders`: `registry.parts().encoders` (see `loadEncoder`).
 */
export async function loadRun(dir: string): Promise<LoadedRun>;
export async function loadRun(dir: string, options: LoadEncoderOptions): Promise<LoadedRun<Encoder>>;
export async function loadRun(dir: string, options: LoadEncoderOptions = {}): Promise<LoadedRun<AnyEncoder | Encoder>> {
  if (!existsSync(join(dir, 'config.json'))) {
    throw new SslError(
      'io',
      `${dir} is not a run directory (no config.json): pass the directory a run wrote with train({ outDir }) or ssl pretrain --out.`,
      { details: { file: dir } },
    );
  }
  const config = readJson(join(dir, 'config.json'), 'the run config') as { [key: string]: JsonValue };
  const method = String(config.method);
  const encoder = existsSync(join(dir, 'encoder', MODEL_FILE)) ? await loadEncoder(join(dir, 'encoder'), options) : undefined;
  const products: Record<string, LoadedProduct<AnyEncoder | Encoder>> = {};
  const indexPath = join(dir, PRODUCTS_DIR, PRODUCTS_INDEX);
  let index: ProductsIndex | undefined;
  try {
    index = existsSync(indexPath) ? (readJson(indexPath, 'the products index') as ProductsIndex) : undefined;
    if (index && (index.format !== 'ssl-products' || index.version !== 1)) {
      throw new SslError('io', `${indexPath} is not an @ssl products index of version 1.`, { details: { file: indexPath } });
    }
    for (const [name, entry] of Object.entries(index?.products ?? {})) {
      const path = join(dir, PRODUCTS_DIR, entry.path);
      if (entry.kind === 'json') products[name] = { kind: 'json', value: readJson(path, `product ${name}`) as JsonValue };
      else if (entry.kind === 'encoder') products[name] = { kind: 'encoder', encoder: await loadEncoder(path, options) };
      else products[name] = { kind: 'network', model: await loadNetwork(path) };
    }
  } catch (error) {
    // A product that cannot be loaded (e.g. of a plugin's encoder kind not passed) fails the load: free what was loaded.
    encoder?.model.dispose();
    for (const product of Object.values(products)) {
      if (product.kind === 'network') product.model.dispose();
      else if (product.kind === 'encoder') product.encoder.model.dispose();
    }
    throw error;
  }
  const listing = () => {
    const names = Object.entries(products).map(([name, p]) => `${name} (${p.kind})`);
    return names.length > 0 ? names.join(', ') : 'none';
  };
  const missing = (name: string, kind: string): never => {
    throw new SslError('io', `Run ${dir} (${method}) has no ${kind} product "${name}"; its products: ${listing()}.`, {
      details: { file: dir, product: name },
    });
  };
  return {
    dir,
    method,
    config,
    encoder,
    products,
    step: index?.step,
    interrupted: index?.interrupted,
    encoderProduct(name) {
      const product = products[name];
      return product?.kind === 'encoder' ? product.encoder : missing(name, 'encoder');
    },
    network(name) {
      const product = products[name];
      if (product?.kind === 'network') return product.model;
      if (product?.kind === 'encoder') return product.encoder.model;
      return missing(name, 'network');
    },
    json<T>(name: string): T {
      const product = products[name];
      return product?.kind === 'json' ? (product.value as T) : missing(name, 'JSON');
    },
    dispose() {
      encoder?.model.dispose();
      for (const product of Object.values(products)) {
        if (product.kind === 'network') product.model.dispose();
        else if (product.kind === 'encoder') product.encoder.model.dispose();
      }
    },
  };
}
