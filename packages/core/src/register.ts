/**
 * What importing the published `@ssl/core` registers, and `@ssl/core/base` does not: tfjs-core's gradients
 * (training needs them), its chained ops (`x.add(y)`, the tensor methods users of the union package had) and
 * the pure-JS `cpu` backend (the fallback of initBackend). These are the registrations the @tensorflow/tfjs
 * union package made, without the webgl backend, converter and tfjs-data it also brought in. (The wasm
 * backend registers itself when tfjs-backend-wasm is imported, which the backend selection does in both
 * entries.)
 *
 * tfjs-core publishes the first two only as deep ESM files with extensionless imports, which Node cannot
 * load from node_modules; the build (tsup.config.ts) bundles them into dist/index.*, as the union package's
 * own Node build does. The copy of tfjs-core internals this brings shares the one engine and registries,
 * which tfjs keeps on globalThis.
 */
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops';
import '@tensorflow/tfjs-backend-cpu';
