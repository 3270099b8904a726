/**
 * tfjs-core alone registers neither gradients nor chained ops (x.add(y)); the @tensorflow/tfjs union package
 * does, in every runtime (its Node build bundles them, its ESM build imports them). Importing @ssl/core
 * therefore gives the same tfjs environment as importing @tensorflow/tfjs, sharing the one tfjs-core.
 */
import '@tensorflow/tfjs';
