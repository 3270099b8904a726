/**
 * The registrations of `@ssl/core` when it runs from sources in this repository (tests, `pnpm ssl`,
 * examples): gradients, chained ops (x.add(y)) and the cpu backend, from the @tensorflow/tfjs union package,
 * a devDependency of @ssl/core only. The published entry registers the same things from tfjs-core and
 * tfjs-backend-cpu alone (register.ts): tsx cannot load the deep tfjs-core files register.ts imports, and
 * under vitest, whose tfjs-core is the ESM build, mixing them with tfjs-layers' CJS copy breaks gradients
 * that the union package's registrations get right (layer-norm.test.ts). check-packages.mjs checks the
 * built entries in Node.
 */
import '@tensorflow/tfjs';
