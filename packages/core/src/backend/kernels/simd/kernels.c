// Training kernels that tfjs-backend-wasm 4.22 lacks or runs far below what the machine can do,
// compiled to a small WebAssembly module that imports tfjs-backend-wasm's own memory: every pointer
// below is a byte offset into the tfjs heap, so tensors are read and written in place.
//
// Build: packages/core/scripts/build-simd-kernels.mjs (clang --target=wasm32 -msimd128). The module must
// not have a data segment or use the C stack: either would write into memory that tfjs owns. The build
// script checks both.
#include <stdint.h>
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name)))

// dw[kh, kw, ci, co] = Σ_{b, oh, ow} xp[b, oh·sh + kh·dh, ow·sw + kw·dw, ci] · dy[b, oh, ow, co]
//
// xp is the input already zero-padded to [batch, paddedHeight, paddedWidth, ci] (so no window leaves
// it), dy is [batch, outHeight, outWidth, co], dw is [kh·kw·ci, co] and is overwritten.
//
// Why not XNNPACK: the filter gradient is a GEMM whose reduction axis (batch × output pixels, 10⁵ and
// more) is far longer than its output (kh·kw·ci × co); XNNPACK packs one operand per call and streams
// the reduction through its microkernel with no blocking, so it runs memory-bound at a third to a half
// of the forward convolution's speed. Here the reduction is cut into chunks of rows whose dy strip stays
// in L1, a 6 × 8 tile of dw accumulates in registers over each chunk, and no patch matrix is built.
#define ROWS_PER_CHUNK 256
#define TILE_M 6
#define TILE_N 8

EXPORT(conv2d_filter_gradient)
void conv2d_filter_gradient(const float* xp, const float* dy, float* dw,
                            int batch, int padded_height, int padded_width, int ci,
                            int out_height, int out_width, int co,
                            int filter_height, int filter_width,
                            int stride_height, int stride_width,
                            int dilation_height, int dilation_width,
                            int* row_bases, int* column_offsets, int m_begin, int m_end) {
  // This call computes rows [m_begin, m_end) of dw (patch columns k = (kh, kw, c)); two threads split
  // the rows between them, each with its own row_bases / column_offsets scratch.
  for (int i = m_begin * co; i < m_end * co; i++) dw[i] = 0.0f;
  // Offset of patch column k from the window's top-left input element.
  for (int k = m_begin; k < m_end; k++) {
    const int c = k % ci;
    const int kw = (k / ci) % filter_width;
    const int kh = k / (ci * filter_width);
    column_offsets[k] = (kh * dilation_height * padded_width + kw * dilation_width) * ci + c;
  }
  const int rows = batch * out_height * out_width;
  const int full_n = co - co % TILE_N;
  for (int first = 0; first < rows; first += ROWS_PER_CHUNK) {
    const int count = rows - first < ROWS_PER_CHUNK ? rows - first : ROWS_PER_CHUNK;
    // Input offset of each output pixel's window.
    for (int r = 0; r < count; r++) {
      const int row = first + r;
      const int ow = row % out_width;
      const int oh = (row / out_width) % out_height;
      const int b = row / (out_width * out_height);
      row_bases[r] = ((b * padded_height + oh * stride_height) * padded_width + ow * stride_width) * ci;
    }
    const float* dy_chunk = dy + first * co;
    for (int m0 = m_begin; m0 < m_end; m0 += TILE_M) {
      const int m_count = m_end - m0 < TILE_M ? m_end - m0 : TILE_M;
      // A partial tile repeats its last column; the repeats are computed and dropped. (Written out by
      // hand, not as arrays: clang would spill arrays to the C stack, which this module must not use.)
      const int last = m0 + m_count - 1;
      const int o0 = column_offsets[m0];
      const int o1 = column_offsets[m0 + 1 <= last ? m0 + 1 : last];
      const int o2 = column_offsets[m0 + 2 <= last ? m0 + 2 : last];
      const int o3 = column_offsets[m0 + 3 <= last ? m0 + 3 : last];
      const int o4 = column_offsets[m0 + 4 <= last ? m0 + 4 : last];
      const int o5 = column_offsets[m0 + 5 <= last ? m0 + 5 : last];
      for (int n0 = 0; n0 < full_n; n0 += TILE_N) {
        const v128_t zero = wasm_f32x4_splat(0);
        v128_t a00 = zero, a01 = zero, a10 = zero, a11 = zero, a20 = zero, a21 = zero;
        v128_t a30 = zero, a31 = zero, a40 = zero, a41 = zero, a50 = zero, a51 = zero;
        const float* g = dy_chunk + n0;
        for (int r = 0; r < count; r++, g += co) {
          const float* p = xp + row_bases[r];
          const v128_t g0 = wasm_v128_load(g);
          const v128_t g1 = wasm_v128_load(g + 4);
#define ACCUMULATE(i)                                          \
          {                                                    \
            const v128_t xi = wasm_f32x4_splat(p[o##i]);       \
            a##i##0 = wasm_f32x4_add(a##i##0, wasm_f32x4_mul(xi, g0)); \
            a##i##1 = wasm_f32x4_add(a##i##1, wasm_f32x4_mul(xi, g1)); \
          }
          ACCUMULATE(0) ACCUMULATE(1) ACCUMULATE(2) ACCUMULATE(3) ACCUMULATE(4) ACCUMULATE(5)
#undef ACCUMULATE
        }
#define STORE(i)                                                               \
        if (i < m_count) {                                                     \
          float* t = dw + (m0 + i) * co + n0;                                  \
          wasm_v128_store(t, wasm_f32x4_add(wasm_v128_load(t), a##i##0));      \
          wasm_v128_store(t + 4, wasm_f32x4_add(wasm_v128_load(t + 4), a##i##1)); \
        }
        STORE(0) STORE(1) STORE(2) STORE(3) STORE(4) STORE(5)
#undef STORE
      }
      // Output channels beyond the last multiple of 8: scalar.
      for (int n = full_n; n < co; n++) {
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0;
        const float* g = dy_chunk + n;
        for (int r = 0; r < count; r++, g += co) {
          const float* p = xp + row_bases[r];
          const float d = *g;
          s0 += p[o0] * d; s1 += p[o1] * d; s2 += p[o2] * d; s3 += p[o3] * d; s4 += p[o4] * d; s5 += p[o5] * d;
        }
        float* t = dw + m0 * co + n;
        t[0] += s0;
        if (m_count > 1) t[co] += s1;
        if (m_count > 2) t[2 * co] += s2;
        if (m_count > 3) t[3 * co] += s3;
        if (m_count > 4) t[4 * co] += s4;
        if (m_count > 5) t[5 * co] += s5;
      }
    }
  }
}

// dx[b, ih, iw, c] = Σ over the windows covering (ih, iw) of dp[(b, oh, ow), (kh, kw, c)]: col2im, the adjoint of
// the patch matrix, for `batch` images (dp [batch·OH·OW, KH·KW·C], dx [batch, H, W, C], overwritten). The input
// gradient of a strided convolution is dp = dy·Wᵀ followed by this; threads split the images.
EXPORT(col2im)
void col2im(const float* dp, float* dx, int batch, int height, int width, int channels, int out_height, int out_width,
            int filter_height, int filter_width, int stride_height, int stride_width, int dilation_height,
            int dilation_width, int pad_top, int pad_left) {
  __builtin_memset(dx, 0, (unsigned)(batch * height * width * channels) * sizeof(float));
  const int full = channels - channels % 4;
  const int patch = filter_height * filter_width * channels;
  for (int b = 0; b < batch; b++) {
    float* image = dx + (int64_t)b * height * width * channels;
    for (int oh = 0; oh < out_height; oh++) {
      for (int ow = 0; ow < out_width; ow++, dp += patch) {
        for (int kh = 0; kh < filter_height; kh++) {
          const int ih = oh * stride_height - pad_top + kh * dilation_height;
          if ((unsigned)ih >= (unsigned)height) continue;
          for (int kw = 0; kw < filter_width; kw++) {
            const int iw = ow * stride_width - pad_left + kw * dilation_width;
            if ((unsigned)iw >= (unsigned)width) continue;
            float* target = image + ((int64_t)ih * width + iw) * channels;
            const float* source = dp + (kh * filter_width + kw) * channels;
            int c = 0;
            for (; c < full; c += 4) wasm_v128_store(target + c, wasm_f32x4_add(wasm_v128_load(target + c), wasm_v128_load(source + c)));
            for (; c < channels; c++) target[c] += source[c];
          }
        }
      }
    }
  }
}

// totals[0..3] += the four lanes of s (float32 partial sums of a block of rows, accumulated in double).
static inline void add_lanes(double* totals, v128_t s) {
  totals[0] += wasm_f32x4_extract_lane(s, 0);
  totals[1] += wasm_f32x4_extract_lane(s, 1);
  totals[2] += wasm_f32x4_extract_lane(s, 2);
  totals[3] += wasm_f32x4_extract_lane(s, 3);
}

// out[c] = Σ_rows x[row, c] for x [rows, width]: the reduction over the leading axes of channels-last
// data (bias gradients, batch-norm statistics). Sums run in blocks of rows into float32 partials that
// are added into double totals, so 10⁶ rows lose no more precision than the cpu backend's float32 sum.
EXPORT(sum_rows)
void sum_rows(const float* x, float* out, int rows, int width, double* totals) {
  for (int c = 0; c < width; c++) totals[c] = 0;
  const int full = width - width % 4;
  for (int first = 0; first < rows; first += 64) {
    const int last = rows - first < 64 ? rows : first + 64;
    for (int c = 0; c < full; c += 4) {
      v128_t s = wasm_f32x4_splat(0);
      const float* p = x + (int64_t)first * width + c;
      for (int r = first; r < last; r++, p += width) s = wasm_f32x4_add(s, wasm_v128_load(p));
      add_lanes(totals + c, s);
    }
    for (int c = full; c < width; c++) {
      float s = 0;
      const float* p = x + (int64_t)first * width + c;
      for (int r = first; r < last; r++, p += width) s += *p;
      totals[c] += s;
    }
  }
  for (int c = 0; c < width; c++) out[c] = (float)totals[c];
}

// xp[b, top + h, left + w, c] = x[b, h, w, c] inside [batch, padded_height, padded_width, channels], zero
// elsewhere: the zero-padded input the filter gradient reads, so that no window needs a bounds check.
EXPORT(pad_spatial)
void pad_spatial(const float* x, float* xp, int batch, int height, int width, int channels,
                 int top, int left, int padded_height, int padded_width) {
  const int row = width * channels;
  const int padded_row = padded_width * channels;
  for (int b = 0; b < batch; b++) {
    float* image = xp + (int64_t)b * padded_height * padded_row;
    const float* source = x + (int64_t)b * height * row;
    __builtin_memset(image, 0, (unsigned)(top * padded_row) * sizeof(float));
    for (int h = 0; h < height; h++) {
      float* target = image + (top + h) * padded_row;
      __builtin_memset(target, 0, (unsigned)(left * channels) * sizeof(float));
      __builtin_memcpy(target + left * channels, source + h * row, (unsigned)row * sizeof(float));
      const int right = padded_row - left * channels - row;
      __builtin_memset(target + left * channels + row, 0, (unsigned)right * sizeof(float));
    }
    const int bottom = padded_height - top - height;
    __builtin_memset(image + (top + height) * padded_row, 0, (unsigned)(bottom * padded_row) * sizeof(float));
  }
}

// Gradient of a 2x2 max pool with stride 2 and no padding (the windows tile the image): each window's
// dy goes to its first maximum in row-major window order, as on the cpu backend (a NaN never wins);
// every other input element, including a trailing odd row or column no window covers, gets 0.
EXPORT(max_pool_2x2_gradient)
void max_pool_2x2_gradient(const float* x, const float* dy, float* dx, int batch, int height, int width,
                           int channels, int out_height, int out_width) {
  __builtin_memset(dx, 0, (unsigned)(batch * height * width * channels) * sizeof(float));
  const int row = width * channels;
  const int full = channels - channels % 4;
  const v128_t lowest = wasm_f32x4_splat(-__builtin_inff());
  for (int b = 0; b < batch; b++) {
    for (int oh = 0; oh < out_height; oh++) {
      for (int ow = 0; ow < out_width; ow++) {
        const int top_left = ((b * height + 2 * oh) * width + 2 * ow) * channels;
        const float* g = dy + ((b * out_height + oh) * out_width + ow) * channels;
        const float* p00 = x + top_left;
        const float* p01 = p00 + channels;
        const float* p10 = p00 + row;
        const float* p11 = p10 + channels;
        float* d00 = dx + top_left;
        float* d01 = d00 + channels;
        float* d10 = d00 + row;
        float* d11 = d10 + channels;
        for (int c = 0; c < full; c += 4) {
          const v128_t v00 = wasm_v128_load(p00 + c), v01 = wasm_v128_load(p01 + c);
          const v128_t v10 = wasm_v128_load(p10 + c), v11 = wasm_v128_load(p11 + c);
          // Strictly greater than the best so far, starting from −∞: later elements win only when larger.
          const v128_t c00 = wasm_f32x4_gt(v00, lowest);
          v128_t best = wasm_v128_bitselect(v00, lowest, c00);
          const v128_t c01 = wasm_f32x4_gt(v01, best);
          best = wasm_v128_bitselect(v01, best, c01);
          const v128_t c10 = wasm_f32x4_gt(v10, best);
          best = wasm_v128_bitselect(v10, best, c10);
          const v128_t c11 = wasm_f32x4_gt(v11, best);
          const v128_t gradient = wasm_v128_load(g + c);
          const v128_t w11 = c11;
          const v128_t w10 = wasm_v128_andnot(c10, w11);
          const v128_t w01 = wasm_v128_andnot(wasm_v128_andnot(c01, c10), w11);
          const v128_t w00 = wasm_v128_andnot(wasm_v128_andnot(wasm_v128_andnot(c00, c01), c10), w11);
          wasm_v128_store(d00 + c, wasm_v128_and(gradient, w00));
          wasm_v128_store(d01 + c, wasm_v128_and(gradient, w01));
          wasm_v128_store(d10 + c, wasm_v128_and(gradient, w10));
          wasm_v128_store(d11 + c, wasm_v128_and(gradient, w11));
        }
        for (int c = full; c < channels; c++) {
          int at = -1;
          float best = -__builtin_inff();
          if (p00[c] > best) { at = 0; best = p00[c]; }
          if (p01[c] > best) { at = 1; best = p01[c]; }
          if (p10[c] > best) { at = 2; best = p10[c]; }
          if (p11[c] > best) at = 3;
          if (at == 0) d00[c] = g[c];
          else if (at == 1) d01[c] = g[c];
          else if (at == 2) d10[c] = g[c];
          else if (at == 3) d11[c] = g[c];
        }
      }
    }
  }
}

// Batch norm in training mode over the rows of x [rows, channels] (every axis but the last), with
// x̂ = (x − μ)/σ, σ = √(var + ε), var the biased batch variance (Ioffe & Szegedy 2015, alg. 1):
// three passes (mean; variance around it, two-pass for accuracy; x̂ and y = γ·x̂ + β written together)
// where the same math in tfjs ops makes twelve. `totals` is 2·channels doubles of scratch.
EXPORT(batch_norm_forward)
void batch_norm_forward(const float* x, const float* gamma, const float* beta, float* y, float* x_hat,
                        float* mean, float* variance, float* inverse_std, int rows, int channels,
                        float epsilon, double* totals) {
  sum_rows(x, mean, rows, channels, totals);
  for (int c = 0; c < channels; c++) mean[c] = (float)(totals[c] / rows);
  // Σ (x − μ)² per channel, in blocks of rows as sum_rows.
  for (int c = 0; c < channels; c++) totals[c] = 0;
  const int full = channels - channels % 4;
  for (int first = 0; first < rows; first += 64) {
    const int last = rows - first < 64 ? rows : first + 64;
    for (int c = 0; c < full; c += 4) {
      const v128_t m = wasm_v128_load(mean + c);
      v128_t s = wasm_f32x4_splat(0);
      const float* p = x + (int64_t)first * channels + c;
      for (int r = first; r < last; r++, p += channels) {
        const v128_t d = wasm_f32x4_sub(wasm_v128_load(p), m);
        s = wasm_f32x4_add(s, wasm_f32x4_mul(d, d));
      }
      add_lanes(totals + c, s);
    }
    for (int c = full; c < channels; c++) {
      float s = 0;
      const float* p = x + (int64_t)first * channels + c;
      for (int r = first; r < last; r++, p += channels) s += (*p - mean[c]) * (*p - mean[c]);
      totals[c] += s;
    }
  }
  for (int c = 0; c < channels; c++) {
    variance[c] = (float)(totals[c] / rows);
    inverse_std[c] = 1.0f / __builtin_sqrtf(variance[c] + epsilon);
  }
  // x_hat == 0: x̂ is not kept (the backward recomputes it from x, mean and 1/σ; see batch_norm_backward).
  for (int r = 0; r < rows; r++) {
    const float* p = x + (int64_t)r * channels;
    float* h = x_hat == 0 ? 0 : x_hat + (int64_t)r * channels;
    float* o = y + (int64_t)r * channels;
    for (int c = 0; c < full; c += 4) {
      const v128_t n = wasm_f32x4_mul(wasm_f32x4_sub(wasm_v128_load(p + c), wasm_v128_load(mean + c)), wasm_v128_load(inverse_std + c));
      if (h != 0) wasm_v128_store(h + c, n);
      wasm_v128_store(o + c, wasm_f32x4_add(wasm_f32x4_mul(n, wasm_v128_load(gamma + c)), wasm_v128_load(beta + c)));
    }
    for (int c = full; c < channels; c++) {
      const float n = (p[c] - mean[c]) * inverse_std[c];
      if (h != 0) h[c] = n;
      o[c] = n * gamma[c] + beta[c];
    }
  }
}

// x̂ of four channels of one row: from x̂ itself (mean == 0) or recomputed from x as (x − μ)·(1/σ).
static inline v128_t normalized4(const float* h, const float* mean, const float* inverse_std, int c) {
  const v128_t v = wasm_v128_load(h);
  return mean == 0 ? v : wasm_f32x4_mul(wasm_f32x4_sub(v, wasm_v128_load(mean + c)), wasm_v128_load(inverse_std + c));
}

// Its gradient in closed form, N = rows: dβ = Σ dy, dγ = Σ dy·x̂, dx = γ/σ · (dy − dβ/N − x̂·dγ/N).
// Two passes. `totals` is 2·channels doubles of scratch. With `mean` not 0, `x_hat` is the input x and x̂ is
// recomputed from it (one subtract and multiply more per element read), so the forward need not keep a
// full-size x̂ beside the input, which the step keeps anyway when it is the output of a convolution.
EXPORT(batch_norm_backward)
void batch_norm_backward(const float* dy, const float* x_hat, const float* mean, const float* gamma, const float* inverse_std,
                         float* dx, float* d_gamma, float* d_beta, int rows, int channels, double* totals) {
  double* beta_totals = totals;
  double* gamma_totals = totals + channels;
  for (int c = 0; c < channels; c++) beta_totals[c] = gamma_totals[c] = 0;
  const int full = channels - channels % 4;
  for (int first = 0; first < rows; first += 64) {
    const int last = rows - first < 64 ? rows : first + 64;
    for (int c = 0; c < full; c += 4) {
      v128_t sb = wasm_f32x4_splat(0), sg = sb;
      const float* g = dy + (int64_t)first * channels + c;
      const float* h = x_hat + (int64_t)first * channels + c;
      for (int r = first; r < last; r++, g += channels, h += channels) {
        const v128_t gv = wasm_v128_load(g);
        sb = wasm_f32x4_add(sb, gv);
        sg = wasm_f32x4_add(sg, wasm_f32x4_mul(gv, normalized4(h, mean, inverse_std, c)));
      }
      add_lanes(beta_totals + c, sb);
      add_lanes(gamma_totals + c, sg);
    }
    for (int c = full; c < channels; c++) {
      float sb = 0, sg = 0;
      const float* g = dy + (int64_t)first * channels + c;
      const float* h = x_hat + (int64_t)first * channels + c;
      for (int r = first; r < last; r++, g += channels, h += channels) {
        sb += *g;
        sg += *g * (mean == 0 ? *h : (*h - mean[c]) * inverse_std[c]);
      }
      beta_totals[c] += sb;
      gamma_totals[c] += sg;
    }
  }
  for (int c = 0; c < channels; c++) {
    d_beta[c] = (float)beta_totals[c];
    d_gamma[c] = (float)gamma_totals[c];
  }
  // dx = s·dy + a + x̂·b per channel, with s = γ/σ, a = −s·dβ/N, b = −s·dγ/N; the coefficients reuse
  // `totals` (2·channels doubles hold 4·channels floats).
  float* s = (float*)totals;
  float* a = s + channels;
  float* b = a + channels;
  for (int c = 0; c < channels; c++) {
    s[c] = gamma[c] * inverse_std[c];
    a[c] = -s[c] * d_beta[c] / (float)rows;
    b[c] = -s[c] * d_gamma[c] / (float)rows;
  }
  for (int r = 0; r < rows; r++) {
    const float* g = dy + (int64_t)r * channels;
    const float* h = x_hat + (int64_t)r * channels;
    float* o = dx + (int64_t)r * channels;
    for (int c = 0; c < full; c += 4) {
      const v128_t scaled = wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(g + c), wasm_v128_load(s + c)), wasm_v128_load(a + c));
      wasm_v128_store(o + c, wasm_f32x4_add(scaled, wasm_f32x4_mul(normalized4(h + c, mean, inverse_std, c), wasm_v128_load(b + c))));
    }
    for (int c = full; c < channels; c++) o[c] = g[c] * s[c] + a[c] + (mean == 0 ? h[c] : (h[c] - mean[c]) * inverse_std[c]) * b[c];
  }
}

// y = x·scale + shift per channel over the rows of x [rows, channels]: batch norm at inference, with
// scale = γ/√(var + ε) and shift = β − μ·scale folded by the caller. tfjs-backend-wasm's FusedBatchNorm
// recomputes four broadcast indices per element (about 7 ns each); this is one multiply-add.
EXPORT(scale_shift_channels)
void scale_shift_channels(const float* x, const float* scale, const float* shift, float* y, int rows, int channels) {
  const int full = channels - channels % 4;
  for (int r = 0; r < rows; r++) {
    const float* p = x + (int64_t)r * channels;
    float* o = y + (int64_t)r * channels;
    for (int c = 0; c < full; c += 4) {
      wasm_v128_store(o + c, wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(p + c), wasm_v128_load(scale + c)), wasm_v128_load(shift + c)));
    }
    for (int c = full; c < channels; c++) o[c] = p[c] * scale[c] + shift[c];
  }
}

// Σ of the four lanes of v.
static inline float lane_sum(v128_t v) {
  return (wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1)) + (wasm_f32x4_extract_lane(v, 2) + wasm_f32x4_extract_lane(v, 3));
}

// Layer norm over the last axis (Ba et al. 2016) for rows [first, last) of x [rows, width]: per row
// μ = mean(x), σ = √(mean((x − μ)²) + ε), x̂ = (x − μ)/σ, y = γ·x̂ + β, with x̂ and 1/σ saved for the gradient.
// Three passes over a row that stays in L1 (mean; variance around it, two-pass for accuracy; x̂ and y written
// together) where the same math in tfjs ops is nine passes over the whole tensor. Threads split the rows.
// ε comes as its float32 bits: the helper thread passes its arguments as 32-bit integers.
EXPORT(layer_norm_forward)
void layer_norm_forward(const float* x, const float* gamma, const float* beta, float* y, float* x_hat, float* inverse_std,
                        int first, int last, int width, int epsilon_bits) {
  const union { int bits; float value; } epsilon_word = { epsilon_bits };
  const float epsilon = epsilon_word.value;
  const int full = width - width % 4;
  for (int r = first; r < last; r++) {
    const float* p = x + (int64_t)r * width;
    v128_t s = wasm_f32x4_splat(0);
    for (int c = 0; c < full; c += 4) s = wasm_f32x4_add(s, wasm_v128_load(p + c));
    float sum = lane_sum(s);
    for (int c = full; c < width; c++) sum += p[c];
    const float mean = sum / (float)width;
    const v128_t m = wasm_f32x4_splat(mean);
    s = wasm_f32x4_splat(0);
    for (int c = 0; c < full; c += 4) {
      const v128_t d = wasm_f32x4_sub(wasm_v128_load(p + c), m);
      s = wasm_f32x4_add(s, wasm_f32x4_mul(d, d));
    }
    float squares = lane_sum(s);
    for (int c = full; c < width; c++) squares += (p[c] - mean) * (p[c] - mean);
    const float inverse = 1.0f / __builtin_sqrtf(squares / (float)width + epsilon);
    inverse_std[r] = inverse;
    const v128_t inv = wasm_f32x4_splat(inverse);
    float* h = x_hat + (int64_t)r * width;
    float* o = y + (int64_t)r * width;
    for (int c = 0; c < full; c += 4) {
      const v128_t n = wasm_f32x4_mul(wasm_f32x4_sub(wasm_v128_load(p + c), m), inv);
      wasm_v128_store(h + c, n);
      wasm_v128_store(o + c, wasm_f32x4_add(wasm_f32x4_mul(n, wasm_v128_load(gamma + c)), wasm_v128_load(beta + c)));
    }
    for (int c = full; c < width; c++) {
      const float n = (p[c] - mean) * inverse;
      h[c] = n;
      o[c] = n * gamma[c] + beta[c];
    }
  }
}

// Its input gradient for rows [first, last), D = width: dx̂ = dy·γ, dx = (dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂))/σ.
// Two passes over a row (the two means, then dx). Threads split the rows.
EXPORT(layer_norm_backward)
void layer_norm_backward(const float* dy, const float* x_hat, const float* gamma, const float* inverse_std, float* dx,
                         int first, int last, int width) {
  const int full = width - width % 4;
  for (int r = first; r < last; r++) {
    const float* g = dy + (int64_t)r * width;
    const float* h = x_hat + (int64_t)r * width;
    v128_t s1 = wasm_f32x4_splat(0), s2 = s1;
    for (int c = 0; c < full; c += 4) {
      const v128_t d = wasm_f32x4_mul(wasm_v128_load(g + c), wasm_v128_load(gamma + c));
      s1 = wasm_f32x4_add(s1, d);
      s2 = wasm_f32x4_add(s2, wasm_f32x4_mul(d, wasm_v128_load(h + c)));
    }
    float sum1 = lane_sum(s1), sum2 = lane_sum(s2);
    for (int c = full; c < width; c++) {
      const float d = g[c] * gamma[c];
      sum1 += d;
      sum2 += d * h[c];
    }
    const float inverse = inverse_std[r];
    const v128_t mean1 = wasm_f32x4_splat(sum1 / (float)width), mean2 = wasm_f32x4_splat(sum2 / (float)width);
    const v128_t inv = wasm_f32x4_splat(inverse);
    float* o = dx + (int64_t)r * width;
    for (int c = 0; c < full; c += 4) {
      const v128_t d = wasm_f32x4_mul(wasm_v128_load(g + c), wasm_v128_load(gamma + c));
      const v128_t centered = wasm_f32x4_sub(wasm_f32x4_sub(d, mean1), wasm_f32x4_mul(wasm_v128_load(h + c), mean2));
      wasm_v128_store(o + c, wasm_f32x4_mul(centered, inv));
    }
    for (int c = full; c < width; c++) {
      o[c] = (g[c] * gamma[c] - sum1 / (float)width - h[c] * (sum2 / (float)width)) * inverse;
    }
  }
}

// dγ[c] = Σ_rows dy·x̂ and dβ[c] = Σ_rows dy for the columns [first, last) (a multiple of 4 apart, except at the
// end): blocks of 64 rows summed in float32, added into double totals (2·width of scratch, disjoint columns
// per thread), as sum_rows.
EXPORT(layer_norm_parameter_gradients)
void layer_norm_parameter_gradients(const float* dy, const float* x_hat, float* d_gamma, float* d_beta, int rows, int width,
                                    int first, int last, double* totals) {
  double* gamma_totals = totals;
  double* beta_totals = totals + width;
  for (int c = first; c < last; c++) gamma_totals[c] = beta_totals[c] = 0;
  const int full = first + (last - first) - (last - first) % 4;
  for (int r0 = 0; r0 < rows; r0 += 64) {
    const int r1 = rows - r0 < 64 ? rows : r0 + 64;
    for (int c = first; c < full; c += 4) {
      v128_t sg = wasm_f32x4_splat(0), sb = sg;
      const float* g = dy + (int64_t)r0 * width + c;
      const float* h = x_hat + (int64_t)r0 * width + c;
      for (int r = r0; r < r1; r++, g += width, h += width) {
        const v128_t gv = wasm_v128_load(g);
        sb = wasm_f32x4_add(sb, gv);
        sg = wasm_f32x4_add(sg, wasm_f32x4_mul(gv, wasm_v128_load(h)));
      }
      add_lanes(gamma_totals + c, sg);
      add_lanes(beta_totals + c, sb);
    }
    for (int c = full; c < last; c++) {
      float sg = 0, sb = 0;
      const float* g = dy + (int64_t)r0 * width + c;
      const float* h = x_hat + (int64_t)r0 * width + c;
      for (int r = r0; r < r1; r++, g += width, h += width) {
        sb += *g;
        sg += *g * *h;
      }
      gamma_totals[c] += sg;
      beta_totals[c] += sb;
    }
  }
  for (int c = first; c < last; c++) {
    d_gamma[c] = (float)gamma_totals[c];
    d_beta[c] = (float)beta_totals[c];
  }
}

// y[b, c, r] = x[b, r, c] for x [batch, rows, columns] of 4-byte elements (float32 or int32, copied
// bit-exactly): 32 × 32 tiles so that reads and writes both stay in cached lines, and 4 × 4 blocks
// transposed in registers (four loads, eight shuffles, four stores) where a scalar loop moves one element
// per load and store. The tiled scalar copy in JS ran at about 55 M elements/s on kNN's [60000, 533].
#define TRANSPOSE_TILE 32
EXPORT(transpose_last_two)
void transpose_last_two(const int32_t* x, int32_t* y, int batch, int rows, int columns) {
  const int64_t plane = (int64_t)rows * columns;
  for (int b = 0; b < batch; b++) {
    const int32_t* in = x + b * plane;
    int32_t* out = y + b * plane;
    for (int r0 = 0; r0 < rows; r0 += TRANSPOSE_TILE) {
      const int r1 = rows - r0 < TRANSPOSE_TILE ? rows : r0 + TRANSPOSE_TILE;
      for (int c0 = 0; c0 < columns; c0 += TRANSPOSE_TILE) {
        const int c1 = columns - c0 < TRANSPOSE_TILE ? columns : c0 + TRANSPOSE_TILE;
        const int rFull = r0 + ((r1 - r0) & ~3);
        const int cFull = c0 + ((c1 - c0) & ~3);
        for (int r = r0; r < rFull; r += 4) {
          for (int c = c0; c < cFull; c += 4) {
            const int32_t* p = in + (int64_t)r * columns + c;
            const v128_t a = wasm_v128_load(p);
            const v128_t b1 = wasm_v128_load(p + columns);
            const v128_t c2 = wasm_v128_load(p + 2 * columns);
            const v128_t d = wasm_v128_load(p + 3 * columns);
            const v128_t ab_lo = wasm_i32x4_shuffle(a, b1, 0, 4, 1, 5);
            const v128_t ab_hi = wasm_i32x4_shuffle(a, b1, 2, 6, 3, 7);
            const v128_t cd_lo = wasm_i32x4_shuffle(c2, d, 0, 4, 1, 5);
            const v128_t cd_hi = wasm_i32x4_shuffle(c2, d, 2, 6, 3, 7);
            int32_t* q = out + (int64_t)c * rows + r;
            wasm_v128_store(q, wasm_i64x2_shuffle(ab_lo, cd_lo, 0, 2));
            wasm_v128_store(q + rows, wasm_i64x2_shuffle(ab_lo, cd_lo, 1, 3));
            wasm_v128_store(q + 2 * rows, wasm_i64x2_shuffle(ab_hi, cd_hi, 0, 2));
            wasm_v128_store(q + 3 * rows, wasm_i64x2_shuffle(ab_hi, cd_hi, 1, 3));
          }
          for (int c = cFull; c < c1; c++) {
            for (int i = 0; i < 4; i++) out[(int64_t)c * rows + r + i] = in[(int64_t)(r + i) * columns + c];
          }
        }
        for (int r = rFull; r < r1; r++) {
          for (int c = c0; c < c1; c++) out[(int64_t)c * rows + r] = in[(int64_t)r * columns + c];
        }
      }
    }
  }
}

// c[i] = a[i] · b[i] for the products i in [first, last) of a batch: a [m, k] at a + i·a_stride (a_stride
// 0 broadcasts one left matrix), b [k, n] at b + i·k·n, c [m, n] at c + i·c_stride (m·n when packed). For the many small
// products of attention (tokens × head width, e.g. 50 × 16 · 16 × 50 per head and image), where one
// XNNPACK call per product costs more in operator setup than in arithmetic and the backend's own batched
// loop is scalar (~3 GFLOP/s). A 4 × 8 tile of c accumulates in registers over k; the callers transpose
// operands first, and split the batch with the helper thread.
EXPORT(batch_matmul)
void batch_matmul(const float* a, const float* b, float* c, int first, int last, int m, int k, int n, int a_stride,
                  int c_stride) {
  const int full_m = m - m % 4;
  const int full_n = n - n % 8;
  for (int i = first; i < last; i++) {
    const float* ai = a + (int64_t)i * a_stride;
    const float* bi = b + (int64_t)i * k * n;
    float* ci = c + (int64_t)i * c_stride;
    for (int r = 0; r < full_m; r += 4) {
      const float* a0 = ai + (int64_t)r * k;
      const float* a1 = a0 + k;
      const float* a2 = a1 + k;
      const float* a3 = a2 + k;
      for (int j = 0; j < full_n; j += 8) {
        const v128_t zero = wasm_f32x4_splat(0);
        v128_t c00 = zero, c01 = zero, c10 = zero, c11 = zero, c20 = zero, c21 = zero, c30 = zero, c31 = zero;
        const float* bp = bi + j;
        for (int p = 0; p < k; p++, bp += n) {
          const v128_t b0 = wasm_v128_load(bp);
          const v128_t b1 = wasm_v128_load(bp + 4);
          v128_t s = wasm_f32x4_splat(a0[p]);
          c00 = wasm_f32x4_add(c00, wasm_f32x4_mul(s, b0));
          c01 = wasm_f32x4_add(c01, wasm_f32x4_mul(s, b1));
          s = wasm_f32x4_splat(a1[p]);
          c10 = wasm_f32x4_add(c10, wasm_f32x4_mul(s, b0));
          c11 = wasm_f32x4_add(c11, wasm_f32x4_mul(s, b1));
          s = wasm_f32x4_splat(a2[p]);
          c20 = wasm_f32x4_add(c20, wasm_f32x4_mul(s, b0));
          c21 = wasm_f32x4_add(c21, wasm_f32x4_mul(s, b1));
          s = wasm_f32x4_splat(a3[p]);
          c30 = wasm_f32x4_add(c30, wasm_f32x4_mul(s, b0));
          c31 = wasm_f32x4_add(c31, wasm_f32x4_mul(s, b1));
        }
        float* o = ci + (int64_t)r * n + j;
        wasm_v128_store(o, c00);
        wasm_v128_store(o + 4, c01);
        wasm_v128_store(o + n, c10);
        wasm_v128_store(o + n + 4, c11);
        wasm_v128_store(o + 2 * n, c20);
        wasm_v128_store(o + 2 * n + 4, c21);
        wasm_v128_store(o + 3 * n, c30);
        wasm_v128_store(o + 3 * n + 4, c31);
      }
      // Columns beyond the last multiple of 8: four rows at a time, scalar.
      for (int j = full_n; j < n; j++) {
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        const float* bp = bi + j;
        for (int p = 0; p < k; p++, bp += n) {
          s0 += a0[p] * *bp;
          s1 += a1[p] * *bp;
          s2 += a2[p] * *bp;
          s3 += a3[p] * *bp;
        }
        float* o = ci + (int64_t)r * n + j;
        o[0] = s0;
        o[n] = s1;
        o[2 * n] = s2;
        o[3 * n] = s3;
      }
    }
    // Rows beyond the last multiple of 4: one row at a time, 4 columns per vector.
    for (int r = full_m; r < m; r++) {
      const float* ar = ai + (int64_t)r * k;
      float* o = ci + (int64_t)r * n;
      const int full4 = n - n % 4;
      for (int j = 0; j < full4; j += 4) {
        v128_t acc = wasm_f32x4_splat(0);
        const float* bp = bi + j;
        for (int p = 0; p < k; p++, bp += n) acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_f32x4_splat(ar[p]), wasm_v128_load(bp)));
        wasm_v128_store(o + j, acc);
      }
      for (int j = full4; j < n; j++) {
        float s = 0;
        const float* bp = bi + j;
        for (int p = 0; p < k; p++, bp += n) s += ar[p] * *bp;
        o[j] = s;
      }
    }
  }
}

// Large single products c[M, N] = a[M, K] · op(b) on two threads. XNNPACK's fully-connected operator, the
// backend's path for them, runs on the calling thread only (tfjs sets it up without its thread pool), so
// every dense layer and every matmul gradient used one of the two cores. Here op(b) is first packed into
// panels of GEMM_NR columns, so the micro-kernel reads b contiguously, then each thread takes a range of
// rows of c. K is cut into blocks of GEMM_KC so that a tile's rows of a (4 × 256 floats) and a panel's block
// (256 × 8) stay in L1; the packing is block-major ([K/256][⌈N/8⌉][256][8], the last panel zero-padded), so
// that one block of every panel is one sequential stream, which the hardware prefetcher follows.
#define GEMM_MR 4
#define GEMM_NR 8
#define GEMM_KC 256

// Where row q of panel p starts in the packed layout (kc: the depth of q's block).
static inline float* packed_row(float* packed, int q, int p, int panels, int k) {
  const int k0 = q - q % GEMM_KC;
  const int kc = k - k0 < GEMM_KC ? k - k0 : GEMM_KC;
  return packed + (int64_t)k0 * panels * GEMM_NR + ((int64_t)p * kc + (q - k0)) * GEMM_NR;
}

// packed(q, p)[j] = op(b)[q, 8p + j] for panels p in [panel_begin, panel_end): b is [K, N] (or [N, K] when
// `transposed`, op(b) = bᵀ); columns past N are zero.
EXPORT(gemm_pack_b)
void gemm_pack_b(const float* b, float* packed, int k, int n, int transposed, int panel_begin, int panel_end) {
  const int panels = (n + GEMM_NR - 1) / GEMM_NR;
  for (int p = panel_begin; p < panel_end; p++) {
    const int j0 = p * GEMM_NR;
    const int width = n - j0 < GEMM_NR ? n - j0 : GEMM_NR;
    for (int k0 = 0; k0 < k; k0 += GEMM_KC) {
      const int kc = k - k0 < GEMM_KC ? k - k0 : GEMM_KC;
      float* out = packed_row(packed, k0, p, panels, k);
      if (!transposed && width == GEMM_NR) {
        const float* row = b + (int64_t)k0 * n + j0;
        for (int q = 0; q < kc; q++, row += n, out += GEMM_NR) {
          wasm_v128_store(out, wasm_v128_load(row));
          wasm_v128_store(out + 4, wasm_v128_load(row + 4));
        }
      } else if (transposed && width == GEMM_NR) {
        // Eight rows of b become the panel's eight columns, four k at a time through 4 × 4 register transposes.
        const float* r0 = b + (int64_t)j0 * k + k0;
        const int full = kc - kc % 4;
        for (int q = 0; q < full; q += 4, out += 4 * GEMM_NR) {
          for (int half = 0; half < 2; half++) {
            const float* r = r0 + (int64_t)half * 4 * k + q;
            const v128_t x0 = wasm_v128_load(r), x1 = wasm_v128_load(r + k);
            const v128_t x2 = wasm_v128_load(r + 2 * k), x3 = wasm_v128_load(r + 3 * k);
            const v128_t lo01 = wasm_i32x4_shuffle(x0, x1, 0, 4, 1, 5), hi01 = wasm_i32x4_shuffle(x0, x1, 2, 6, 3, 7);
            const v128_t lo23 = wasm_i32x4_shuffle(x2, x3, 0, 4, 1, 5), hi23 = wasm_i32x4_shuffle(x2, x3, 2, 6, 3, 7);
            float* o = out + half * 4;
            wasm_v128_store(o, wasm_i64x2_shuffle(lo01, lo23, 0, 2));
            wasm_v128_store(o + GEMM_NR, wasm_i64x2_shuffle(lo01, lo23, 1, 3));
            wasm_v128_store(o + 2 * GEMM_NR, wasm_i64x2_shuffle(hi01, hi23, 0, 2));
            wasm_v128_store(o + 3 * GEMM_NR, wasm_i64x2_shuffle(hi01, hi23, 1, 3));
          }
        }
        for (int q = full; q < kc; q++, out += GEMM_NR) {
          for (int j = 0; j < GEMM_NR; j++) out[j] = r0[(int64_t)j * k + q];
        }
      } else {
        for (int q = k0; q < k0 + kc; q++, out += GEMM_NR) {
          for (int j = 0; j < GEMM_NR; j++) out[j] = j < width ? (transposed ? b[(int64_t)(j0 + j) * k + q] : b[(int64_t)q * n + j0 + j]) : 0.0f;
        }
      }
    }
  }
}

// Stores the first `width` (1–7) lanes of v0 | v1 at c. Lanes are extracted by constant index, never through
// an array, which clang would place on the C stack.
static inline void store_partial8(float* c, v128_t v0, v128_t v1, int width, int accumulate) {
#define LANE(j, v, l)                                                                 \
  if (j < width) c[j] = (accumulate ? c[j] : 0.0f) + wasm_f32x4_extract_lane(v, l);
  LANE(0, v0, 0) LANE(1, v0, 1) LANE(2, v0, 2) LANE(3, v0, 3) LANE(4, v1, 0) LANE(5, v1, 1) LANE(6, v1, 2)
#undef LANE
}

static inline void store8(float* c, v128_t v0, v128_t v1, int width, int accumulate) {
  if (width == GEMM_NR) {
    if (accumulate) {
      v0 = wasm_f32x4_add(v0, wasm_v128_load(c));
      v1 = wasm_f32x4_add(v1, wasm_v128_load(c + 4));
    }
    wasm_v128_store(c, v0);
    wasm_v128_store(c + 4, v1);
  } else {
    store_partial8(c, v0, v1, width, accumulate);
  }
}

// Rows [m_begin, m_end) of c = a · op(b) (+ bias[n] when bias is not 0), with op(b) packed by gemm_pack_b.
// Element (r, q) of a is at a[r·row_stride + q·depth_stride]: (k, 1) for a row-major [M, K] a, (1, M) for
// a [K, M] one used transposed, which is read in place. Threads split the rows; ranges must not overlap.
EXPORT(gemm_packed)
void gemm_packed(const float* a, const float* packed, const float* bias, float* c, int m_begin, int m_end, int k, int n,
                 int row_stride, int depth_stride) {
  const int panels = (n + GEMM_NR - 1) / GEMM_NR;
  for (int k0 = 0; k0 < k; k0 += GEMM_KC) {
    const int kc = k - k0 < GEMM_KC ? k - k0 : GEMM_KC;
    const int accumulate = k0 > 0;
    int r = m_begin;
    for (; r + GEMM_MR <= m_end; r += GEMM_MR) {
      const float* a0 = a + (int64_t)r * row_stride + (int64_t)k0 * depth_stride;
      const float* a1 = a0 + row_stride;
      const float* a2 = a1 + row_stride;
      const float* a3 = a2 + row_stride;
#if GEMM_MR == 6
      const float* a4 = a3 + row_stride;
      const float* a5 = a4 + row_stride;
#endif
      for (int p = 0; p < panels; p++) {
        const int j0 = p * GEMM_NR;
        const int width = n - j0 < GEMM_NR ? n - j0 : GEMM_NR;
        v128_t i0 = wasm_f32x4_splat(0), i1 = i0;
        if (bias != 0 && !accumulate) {
          // The bias of the panel's columns (lanes past N stay 0 and are never stored).
          i0 = wasm_f32x4_make(bias[j0], width > 1 ? bias[j0 + 1] : 0, width > 2 ? bias[j0 + 2] : 0, width > 3 ? bias[j0 + 3] : 0);
          i1 = wasm_f32x4_make(width > 4 ? bias[j0 + 4] : 0, width > 5 ? bias[j0 + 5] : 0, width > 6 ? bias[j0 + 6] : 0,
                               width > 7 ? bias[j0 + 7] : 0);
        }
        v128_t c00 = i0, c01 = i1, c10 = i0, c11 = i1, c20 = i0, c21 = i1, c30 = i0, c31 = i1;
#if GEMM_MR == 6
        v128_t c40 = i0, c41 = i1, c50 = i0, c51 = i1;
#endif
        const float* bp = packed_row((float*)packed, k0, p, panels, k);
        int64_t offset = 0;
        for (int q = 0; q < kc; q++, bp += GEMM_NR, offset += depth_stride) {
          const v128_t b0 = wasm_v128_load(bp);
          const v128_t b1 = wasm_v128_load(bp + 4);
#define ROW(i)                                                      \
          {                                                         \
            const v128_t s = wasm_v128_load32_splat(a##i + offset); \
            c##i##0 = wasm_f32x4_add(c##i##0, wasm_f32x4_mul(s, b0)); \
            c##i##1 = wasm_f32x4_add(c##i##1, wasm_f32x4_mul(s, b1)); \
          }
          ROW(0) ROW(1) ROW(2) ROW(3)
#if GEMM_MR == 6
          ROW(4) ROW(5)
#endif
#undef ROW
        }
        float* o = c + (int64_t)r * n + j0;
        store8(o, c00, c01, width, accumulate);
        store8(o + n, c10, c11, width, accumulate);
        store8(o + 2 * n, c20, c21, width, accumulate);
        store8(o + 3 * n, c30, c31, width, accumulate);
#if GEMM_MR == 6
        store8(o + 4 * n, c40, c41, width, accumulate);
        store8(o + 5 * n, c50, c51, width, accumulate);
#endif
      }
    }
    // The last rows (fewer than GEMM_MR), one at a time.
    for (; r < m_end; r++) {
      const float* ar = a + (int64_t)r * row_stride + (int64_t)k0 * depth_stride;
      for (int p = 0; p < panels; p++) {
        const int j0 = p * GEMM_NR;
        const int width = n - j0 < GEMM_NR ? n - j0 : GEMM_NR;
        v128_t c0 = wasm_f32x4_splat(0), c1 = c0;
        if (bias != 0 && !accumulate) {
          c0 = wasm_f32x4_make(bias[j0], width > 1 ? bias[j0 + 1] : 0, width > 2 ? bias[j0 + 2] : 0, width > 3 ? bias[j0 + 3] : 0);
          c1 = wasm_f32x4_make(width > 4 ? bias[j0 + 4] : 0, width > 5 ? bias[j0 + 5] : 0, width > 6 ? bias[j0 + 6] : 0,
                               width > 7 ? bias[j0 + 7] : 0);
        }
        const float* bp = packed_row((float*)packed, k0, p, panels, k);
        int64_t offset = 0;
        for (int q = 0; q < kc; q++, bp += GEMM_NR, offset += depth_stride) {
          const v128_t s = wasm_v128_load32_splat(ar + offset);
          c0 = wasm_f32x4_add(c0, wasm_f32x4_mul(s, wasm_v128_load(bp)));
          c1 = wasm_f32x4_add(c1, wasm_f32x4_mul(s, wasm_v128_load(bp + 4)));
        }
        store8(c + (int64_t)r * n + j0, c0, c1, width, accumulate);
      }
    }
  }
}

// e^x on four lanes (Cephes expf): x = n·ln2 + r with |r| ≤ ln2/2, e^r by a degree-6 polynomial, 2^n
// through the exponent bits. Relative error ~1e-7 over the clamped range [-87.3, 88.3].
static inline v128_t exp_f32x4(v128_t x) {
  x = wasm_f32x4_min(wasm_f32x4_max(x, wasm_f32x4_splat(-87.3f)), wasm_f32x4_splat(88.3f));
  const v128_t n = wasm_f32x4_nearest(wasm_f32x4_mul(x, wasm_f32x4_splat(1.44269504088896341f)));
  v128_t r = wasm_f32x4_sub(x, wasm_f32x4_mul(n, wasm_f32x4_splat(0.693359375f)));
  r = wasm_f32x4_sub(r, wasm_f32x4_mul(n, wasm_f32x4_splat(-2.12194440e-4f)));
  v128_t p = wasm_f32x4_splat(1.9875691500e-4f);
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.3981999507e-3f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(8.3334519073e-3f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(4.1665795894e-2f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.6666665459e-1f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(5.0000001201e-1f));
  p = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_mul(p, wasm_f32x4_mul(r, r)), r), wasm_f32x4_splat(1.0f));
  const v128_t scale = wasm_i32x4_shl(wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(n), wasm_i32x4_splat(127)), 23);
  return wasm_f32x4_mul(p, scale);
}

// GELU's tanh form as x·σ(k·x·(1 + c·x²)) with k = 2·√(2/π), c = 0.044715 (see geluTanh in nn/layers/common.ts).
#define GELU_K 1.5957691216057308f
#define GELU_C 0.044715f

// The gate σ(k·x·(1 + c·x²)) of four lanes.
static inline v128_t gelu_gate(v128_t x) {
  const v128_t x2 = wasm_f32x4_mul(x, x);
  const v128_t z = wasm_f32x4_mul(wasm_f32x4_mul(x, wasm_f32x4_splat(GELU_K)),
                                  wasm_f32x4_add(wasm_f32x4_mul(x2, wasm_f32x4_splat(GELU_C)), wasm_f32x4_splat(1.0f)));
  const v128_t one = wasm_f32x4_splat(1.0f);
  return wasm_f32x4_div(one, wasm_f32x4_add(one, exp_f32x4(wasm_f32x4_neg(z))));
}

// y = x·gate and the gate itself (saved for the gradient), for `count` elements.
EXPORT(gelu_tanh_forward)
void gelu_tanh_forward(const float* x, float* y, float* gate, int count) {
  const int full = count - count % 4;
  for (int i = 0; i < full; i += 4) {
    const v128_t v = wasm_v128_load(x + i);
    const v128_t s = gelu_gate(v);
    wasm_v128_store(gate + i, s);
    wasm_v128_store(y + i, wasm_f32x4_mul(v, s));
  }
  for (int i = full; i < count; i++) {
    const v128_t s = gelu_gate(wasm_f32x4_splat(x[i]));
    gate[i] = wasm_f32x4_extract_lane(s, 0);
    y[i] = x[i] * gate[i];
  }
}

// dx = dy·(s + x·s·(1 − s)·k·(1 + 3c·x²)) with s the saved gate.
static inline v128_t gelu_gradient(v128_t g, v128_t v, v128_t s) {
  const v128_t one = wasm_f32x4_splat(1.0f);
  const v128_t slope = wasm_f32x4_mul(wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_mul(v, v), wasm_f32x4_splat(3.0f * GELU_C)), one), wasm_f32x4_splat(GELU_K));
  const v128_t gate_gradient = wasm_f32x4_mul(wasm_f32x4_mul(s, wasm_f32x4_sub(one, s)), slope);
  return wasm_f32x4_mul(g, wasm_f32x4_add(s, wasm_f32x4_mul(v, gate_gradient)));
}

EXPORT(gelu_tanh_backward)
void gelu_tanh_backward(const float* dy, const float* x, const float* gate, float* dx, int count) {
  const int full = count - count % 4;
  for (int i = 0; i < full; i += 4) {
    wasm_v128_store(dx + i, gelu_gradient(wasm_v128_load(dy + i), wasm_v128_load(x + i), wasm_v128_load(gate + i)));
  }
  for (int i = full; i < count; i++) {
    dx[i] = wasm_f32x4_extract_lane(gelu_gradient(wasm_f32x4_splat(dy[i]), wasm_f32x4_splat(x[i]), wasm_f32x4_splat(gate[i])), 0);
  }
}

// erf(x) by Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7): erf(|x|) = 1 − t·(a1 + t·(a2 + t·(a3 + t·(a4 + t·a5))))·e^(−x²)
// with t = 1/(1 + p·|x|), odd in x: the formula and constants of tfjs's cpu and wasm Erf kernels, on four lanes
// (the stock wasm kernel is scalar: the exact GELU's erf was 8 % of ViT inference).
static inline v128_t erf_f32x4(v128_t x) {
  const v128_t v = wasm_f32x4_abs(x);
  const v128_t one = wasm_f32x4_splat(1.0f);
  const v128_t t = wasm_f32x4_div(one, wasm_f32x4_add(one, wasm_f32x4_mul(wasm_f32x4_splat(0.3275911f), v)));
  v128_t poly = wasm_f32x4_splat(1.061405429f);
  poly = wasm_f32x4_add(wasm_f32x4_mul(poly, t), wasm_f32x4_splat(-1.453152027f));
  poly = wasm_f32x4_add(wasm_f32x4_mul(poly, t), wasm_f32x4_splat(1.421413741f));
  poly = wasm_f32x4_add(wasm_f32x4_mul(poly, t), wasm_f32x4_splat(-0.284496736f));
  poly = wasm_f32x4_add(wasm_f32x4_mul(poly, t), wasm_f32x4_splat(0.254829592f));
  const v128_t r = wasm_f32x4_sub(one, wasm_f32x4_mul(wasm_f32x4_mul(poly, t), exp_f32x4(wasm_f32x4_neg(wasm_f32x4_mul(v, v)))));
  // The sign of x onto r (r ≥ 0), so erf(−x) = −erf(x); NaN stays NaN through t.
  const v128_t sign = wasm_v128_and(x, wasm_i32x4_splat((int)0x80000000));
  return wasm_v128_or(r, sign);
}

EXPORT(erf_f32)
void erf_f32(const float* x, float* y, int count) {
  const int full = count - count % 4;
  for (int i = 0; i < full; i += 4) wasm_v128_store(y + i, erf_f32x4(wasm_v128_load(x + i)));
  for (int i = full; i < count; i++) y[i] = wasm_f32x4_extract_lane(erf_f32x4(wasm_f32x4_splat(x[i])), 0);
}

// Φ(x) = (1 + erf(x/√2))·½ of four lanes, in the order gelu() in nn/layers/common.ts composes it.
static inline v128_t normal_cdf_f32x4(v128_t x) {
  const v128_t e = erf_f32x4(wasm_f32x4_mul(x, wasm_f32x4_splat(0.70710678118654752f)));
  return wasm_f32x4_mul(wasm_f32x4_add(wasm_f32x4_splat(1.0f), e), wasm_f32x4_splat(0.5f));
}

// The exact GELU y = x·Φ(x) and Φ itself (saved for the gradient; not written when cdf is 0, as in inference), for
// `count` elements: one pass where the composed form runs five (the ViT's MLP activation in inference).
EXPORT(gelu_exact_forward)
void gelu_exact_forward(const float* x, float* y, float* cdf, int count) {
  const int full = count - count % 4;
  for (int i = 0; i < full; i += 4) {
    const v128_t v = wasm_v128_load(x + i);
    const v128_t c = normal_cdf_f32x4(v);
    if (cdf) wasm_v128_store(cdf + i, c);
    wasm_v128_store(y + i, wasm_f32x4_mul(v, c));
  }
  for (int i = full; i < count; i++) {
    const float c = wasm_f32x4_extract_lane(normal_cdf_f32x4(wasm_f32x4_splat(x[i])), 0);
    if (cdf) cdf[i] = c;
    y[i] = x[i] * c;
  }
}

// Element-wise passes of a CNN step on four lanes, for elements [0, count) of float32 tensors (the callers split
// ranges between the threads by offsetting the pointers): the bias add after a convolution, ReLU, and its
// gradient as tfjs-core writes it, mul(dy, step(x)). tfjs-backend-wasm runs each of them on one thread (Step as a
// scalar loop, Add with a broadcast bias through XNNPACK's broadcasting path at half the speed of equal shapes).

// y = max(x, 0), NaN kept (as the cpu backend's x < 0 ? 0 : x).
EXPORT(relu_f32)
void relu_f32(const float* x, float* y, int count) {
  const v128_t zero = wasm_f32x4_splat(0);
  int i = 0;
  for (; i + 4 <= count; i += 4) {
    const v128_t v = wasm_v128_load(x + i);
    wasm_v128_store(y + i, wasm_v128_bitselect(zero, v, wasm_f32x4_lt(v, zero)));
  }
  for (; i < count; i++) y[i] = x[i] < 0 ? 0.0f : x[i];
}

// y = x > 0 ? 1 : alpha, NaN kept (tfjs's Step); alpha comes as its float32 bits (the helper thread passes its
// arguments as 32-bit integers).
EXPORT(step_f32)
void step_f32(const float* x, float* y, int count, int alpha_bits) {
  const v128_t zero = wasm_f32x4_splat(0), one = wasm_f32x4_splat(1.0f), alpha = wasm_i32x4_splat(alpha_bits);
  int i = 0;
  for (; i + 4 <= count; i += 4) {
    const v128_t v = wasm_v128_load(x + i);
    const v128_t stepped = wasm_v128_bitselect(one, alpha, wasm_f32x4_gt(v, zero));
    wasm_v128_store(y + i, wasm_v128_bitselect(stepped, v, wasm_f32x4_eq(v, v)));
  }
  const float alpha1 = wasm_f32x4_extract_lane(alpha, 0);
  for (; i < count; i++) y[i] = x[i] != x[i] ? x[i] : (x[i] > 0 ? 1.0f : alpha1);
}

// y = a·b (op 0) or a + b (op 1) for operands of one shape.
EXPORT(binary_f32)
void binary_f32(const float* a, const float* b, float* y, int count, int op) {
  int i = 0;
  if (op == 0) {
    for (; i + 4 <= count; i += 4) wasm_v128_store(y + i, wasm_f32x4_mul(wasm_v128_load(a + i), wasm_v128_load(b + i)));
    for (; i < count; i++) y[i] = a[i] * b[i];
  } else {
    for (; i + 4 <= count; i += 4) wasm_v128_store(y + i, wasm_f32x4_add(wasm_v128_load(a + i), wasm_v128_load(b + i)));
    for (; i < count; i++) y[i] = a[i] + b[i];
  }
}

// y[r, c] = x[r, c] + bias[c] for `rows` rows of `channels`.
EXPORT(add_bias_f32)
void add_bias_f32(const float* x, const float* bias, float* y, int rows, int channels) {
  const int full = channels - channels % 4;
  for (int r = 0; r < rows; r++, x += channels, y += channels) {
    int c = 0;
    for (; c < full; c += 4) wasm_v128_store(y + c, wasm_f32x4_add(wasm_v128_load(x + c), wasm_v128_load(bias + c)));
    for (; c < channels; c++) y[c] = x[c] + bias[c];
  }
}

// Winograd F(4×4, 3×3) for 3×3, stride-1, undilated convolutions (Lavin & Gray 2016, "Fast Algorithms
// for Convolutional Neural Networks"). Each 6×6 input tile d (stride 4) and filter g give a 4×4 output
// tile Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A, so with the transforms done once per tile and channel, a
// convolution becomes 36 independent products V_ξ[T, CI]·U_ξ[CI, CO] (ξ one of the 6×6 positions,
// T the tiles): 36·CI·CO multiplies per 16 output pixels instead of 9·16·CI·CO, 4x fewer. The gradient
// of g is Gᵀ[Σ_tiles (Bᵀ d B) ⊙ (A dY Aᵀ)]G, the same products with the tile axis reduced.
//
// Layouts: transformed tiles are [36][tile_stride][C] (each ξ a contiguous [T, C] matrix, tile t at
// row t); transformed filters [36][CI][CO]. Channels are processed four at a time and must be a
// multiple of 4. The 1-D transforms work on named locals and pass intermediate rows through the
// output buffer, which keeps every value out of arrays (see the note on the C stack above).

#define F4(x) wasm_f32x4_splat(x)
#define ADD wasm_f32x4_add
#define SUB wasm_f32x4_sub
#define MUL wasm_f32x4_mul

// Bᵀ·(d0..d5): rows 4,0,−5,0,1,0 / 0,−4,−4,1,1,0 / 0,4,−4,−1,1,0 / 0,−2,−1,2,1,0 / 0,2,−1,−2,1,0 / 0,4,0,−5,0,1.
#define INPUT_TRANSFORM(d0, d1, d2, d3, d4, d5, o0, o1, o2, o3, o4, o5)        \
  {                                                                            \
    const v128_t s34 = ADD(d3, d4), s12 = ADD(d1, d2);                         \
    const v128_t m43 = SUB(d4, d3), m12 = SUB(d1, d2);                         \
    const v128_t m42 = SUB(d4, d2), m31 = SUB(d3, d1);                         \
    o0 = ADD(SUB(MUL(F4(4.0f), d0), MUL(F4(5.0f), d2)), d4);                  \
    o1 = SUB(s34, MUL(F4(4.0f), s12));                                         \
    o2 = ADD(m43, MUL(F4(4.0f), m12));                                         \
    o3 = ADD(m42, MUL(F4(2.0f), m31));                                         \
    o4 = SUB(m42, MUL(F4(2.0f), m31));                                         \
    o5 = ADD(SUB(MUL(F4(4.0f), d1), MUL(F4(5.0f), d3)), d5);                  \
  }

// Aᵀ·(m0..m5): rows 1,1,1,1,1,0 / 0,1,−1,2,−2,0 / 0,1,1,4,4,0 / 0,1,−1,8,−8,1.
#define OUTPUT_TRANSFORM(m0, m1, m2, m3, m4, m5, o0, o1, o2, o3)               \
  {                                                                            \
    const v128_t p12 = ADD(m1, m2), n12 = SUB(m1, m2);                         \
    const v128_t p34 = ADD(m3, m4), n34 = SUB(m3, m4);                         \
    o0 = ADD(ADD(m0, p12), p34);                                               \
    o1 = ADD(n12, MUL(F4(2.0f), n34));                                         \
    o2 = ADD(p12, MUL(F4(4.0f), p34));                                         \
    o3 = ADD(ADD(n12, MUL(F4(8.0f), n34)), m5);                                \
  }

// A·(y0..y3), the adjoint of OUTPUT_TRANSFORM: columns of Aᵀ.
#define OUTPUT_ADJOINT(y0, y1, y2, y3, o0, o1, o2, o3, o4, o5)                  \
  {                                                                            \
    const v128_t p02 = ADD(y0, y2), p13 = ADD(y1, y3);                         \
    const v128_t q02 = ADD(y0, MUL(F4(4.0f), y2)), q13 = ADD(y1, MUL(F4(4.0f), y3)); \
    o0 = y0;                                                                   \
    o1 = ADD(p02, p13);                                                        \
    o2 = SUB(p02, p13);                                                        \
    o3 = ADD(q02, MUL(F4(2.0f), q13));                                         \
    o4 = SUB(q02, MUL(F4(2.0f), q13));                                         \
    o5 = y3;                                                                   \
  }

// G·(g0..g2): rows 1/4,0,0 / −1/6,−1/6,−1/6 / −1/6,1/6,−1/6 / 1/24,1/12,1/6 / 1/24,−1/12,1/6 / 0,0,1.
#define FILTER_TRANSFORM(g0, g1, g2, o0, o1, o2, o3, o4, o5)                    \
  {                                                                            \
    const v128_t p02 = ADD(g0, g2);                                            \
    const v128_t q02 = ADD(MUL(F4(1.0f / 24), g0), MUL(F4(1.0f / 6), g2));     \
    o0 = MUL(F4(0.25f), g0);                                                   \
    o1 = MUL(F4(-1.0f / 6), ADD(p02, g1));                                     \
    o2 = MUL(F4(-1.0f / 6), SUB(p02, g1));                                     \
    o3 = ADD(q02, MUL(F4(1.0f / 12), g1));                                     \
    o4 = SUB(q02, MUL(F4(1.0f / 12), g1));                                     \
    o5 = g2;                                                                   \
  }

// Gᵀ·(u0..u5), the adjoint of FILTER_TRANSFORM.
#define FILTER_ADJOINT(u0, u1, u2, u3, u4, u5, o0, o1, o2)                      \
  {                                                                            \
    const v128_t p12 = ADD(u1, u2), n12 = SUB(u2, u1);                         \
    const v128_t p34 = ADD(u3, u4), n34 = SUB(u3, u4);                         \
    o0 = ADD(ADD(MUL(F4(0.25f), u0), MUL(F4(-1.0f / 6), p12)), MUL(F4(1.0f / 24), p34)); \
    o1 = ADD(MUL(F4(1.0f / 6), n12), MUL(F4(1.0f / 12), n34));                 \
    o2 = ADD(ADD(MUL(F4(-1.0f / 6), p12), MUL(F4(1.0f / 6), p34)), u5);        \
  }

// Six vectors written `stride` floats apart.
static inline void store6(float* dst, int64_t stride, v128_t o0, v128_t o1, v128_t o2, v128_t o3, v128_t o4, v128_t o5) {
  wasm_v128_store(dst, o0);
  wasm_v128_store(dst + stride, o1);
  wasm_v128_store(dst + 2 * stride, o2);
  wasm_v128_store(dst + 3 * stride, o3);
  wasm_v128_store(dst + 4 * stride, o4);
  wasm_v128_store(dst + 5 * stride, o5);
}

// The 1-D transforms applied to vectors `src_stride` floats apart, written `dst_stride` apart (in place when
// src == dst and the strides match: every input is loaded before any output is stored). Each 2-D transform
// is a pass over the columns of a tile and then one over its rows.
static inline void input_transform(const float* src, int64_t src_stride, float* dst, int64_t dst_stride) {
  const v128_t d0 = wasm_v128_load(src), d1 = wasm_v128_load(src + src_stride), d2 = wasm_v128_load(src + 2 * src_stride);
  const v128_t d3 = wasm_v128_load(src + 3 * src_stride), d4 = wasm_v128_load(src + 4 * src_stride), d5 = wasm_v128_load(src + 5 * src_stride);
  v128_t o0, o1, o2, o3, o4, o5;
  INPUT_TRANSFORM(d0, d1, d2, d3, d4, d5, o0, o1, o2, o3, o4, o5)
  store6(dst, dst_stride, o0, o1, o2, o3, o4, o5);
}

// Stores the first `count` (1–4) outputs: the last tile of a row or column may hang over the image.
static inline void output_transform(const float* src, int64_t src_stride, float* dst, int64_t dst_stride, int count) {
  const v128_t m0 = wasm_v128_load(src), m1 = wasm_v128_load(src + src_stride), m2 = wasm_v128_load(src + 2 * src_stride);
  const v128_t m3 = wasm_v128_load(src + 3 * src_stride), m4 = wasm_v128_load(src + 4 * src_stride), m5 = wasm_v128_load(src + 5 * src_stride);
  v128_t o0, o1, o2, o3;
  OUTPUT_TRANSFORM(m0, m1, m2, m3, m4, m5, o0, o1, o2, o3)
  wasm_v128_store(dst, o0);
  if (count > 1) wasm_v128_store(dst + dst_stride, o1);
  if (count > 2) wasm_v128_store(dst + 2 * dst_stride, o2);
  if (count > 3) wasm_v128_store(dst + 3 * dst_stride, o3);
}

static inline void store_output_adjoint(v128_t y0, v128_t y1, v128_t y2, v128_t y3, float* dst, int64_t dst_stride) {
  v128_t o0, o1, o2, o3, o4, o5;
  OUTPUT_ADJOINT(y0, y1, y2, y3, o0, o1, o2, o3, o4, o5)
  store6(dst, dst_stride, o0, o1, o2, o3, o4, o5);
}

static inline void filter_transform(const float* src, int64_t src_stride, float* dst, int64_t dst_stride) {
  const v128_t g0 = wasm_v128_load(src), g1 = wasm_v128_load(src + src_stride), g2 = wasm_v128_load(src + 2 * src_stride);
  v128_t o0, o1, o2, o3, o4, o5;
  FILTER_TRANSFORM(g0, g1, g2, o0, o1, o2, o3, o4, o5)
  store6(dst, dst_stride, o0, o1, o2, o3, o4, o5);
}

static inline void filter_adjoint(const float* src, int64_t src_stride, float* dst, int64_t dst_stride) {
  const v128_t u0 = wasm_v128_load(src), u1 = wasm_v128_load(src + src_stride), u2 = wasm_v128_load(src + 2 * src_stride);
  const v128_t u3 = wasm_v128_load(src + 3 * src_stride), u4 = wasm_v128_load(src + 4 * src_stride), u5 = wasm_v128_load(src + 5 * src_stride);
  v128_t o0, o1, o2;
  FILTER_ADJOINT(u0, u1, u2, u3, u4, u5, o0, o1, o2)
  wasm_v128_store(dst, o0);
  wasm_v128_store(dst + dst_stride, o1);
  wasm_v128_store(dst + 2 * dst_stride, o2);
}

static inline v128_t load_or_zero(const float* image, int row, int col, int height, int width, int channels, int c) {
  if ((unsigned)row >= (unsigned)height || (unsigned)col >= (unsigned)width) return wasm_f32x4_splat(0);
  return wasm_v128_load(image + ((int64_t)row * width + col) * channels + c);
}

// Every transformed array holds 36 planes, one per position ξ, `plane` floats apart: the tiles' channel vectors and a
// pad. The transforms touch all 36 planes per tile, so with planes a multiple of 4 KB apart (tiles × C × 4 bytes
// often is: 1 792 tiles × 16 channels) every one of those accesses maps to the same L1 set, 36 lines for 8 ways, and
// the transforms ran 3–4x slower; the caller pads each plane to an odd number of 64-byte lines (winograd.ts).

// Tile t of a [batch, tiles_h, tiles_w] grid: its image and top-left output pixel.
#define TILE_ORIGIN(t)                                        \
  const int tw = (t) % tiles_w;                               \
  const int th = ((t) / tiles_w) % tiles_h;                   \
  const int b = (t) / (tiles_w * tiles_h);                    \
  const int row0 = th * 4, col0 = tw * 4;

// v[ξ][t][c] = (Bᵀ d_t B)[ξ] for tiles t in [first, last): d_t the 6×6 window of x (zero outside the
// image) whose top-left corner is (4·th − pad_top, 4·tw − pad_left).
EXPORT(winograd_input_transform)
void winograd_input_transform(const float* x, float* v, int height, int width, int channels,
                              int pad_top, int pad_left, int tiles_h, int tiles_w, int plane,
                              int first, int last) {
  for (int t = first; t < last; t++) {
    TILE_ORIGIN(t)
    const float* image = x + (int64_t)b * height * width * channels;
    const int top = row0 - pad_top, left = col0 - pad_left;
    float* out = v + (int64_t)t * channels;
    for (int c = 0; c < channels; c += 4) {
      // Columns (loaded with bounds checks): Bᵀ d_{·,j}, parked in column j of the output.
      for (int j = 0; j < 6; j++) {
        const int col = left + j;
        const v128_t d0 = load_or_zero(image, top, col, height, width, channels, c);
        const v128_t d1 = load_or_zero(image, top + 1, col, height, width, channels, c);
        const v128_t d2 = load_or_zero(image, top + 2, col, height, width, channels, c);
        const v128_t d3 = load_or_zero(image, top + 3, col, height, width, channels, c);
        const v128_t d4 = load_or_zero(image, top + 4, col, height, width, channels, c);
        const v128_t d5 = load_or_zero(image, top + 5, col, height, width, channels, c);
        v128_t o0, o1, o2, o3, o4, o5;
        INPUT_TRANSFORM(d0, d1, d2, d3, d4, d5, o0, o1, o2, o3, o4, o5)
        store6(out + j * plane + c, 6 * plane, o0, o1, o2, o3, o4, o5);
      }
      // Rows, in place.
      for (int i = 0; i < 6; i++) input_transform(out + i * 6 * plane + c, plane, out + i * 6 * plane + c, plane);
    }
  }
}

// y[b, 4·th + i, 4·tw + j, c] = (Aᵀ M_t A)[i, j] for tiles t in [first, last), cropped to the output
// image. m (36 planes of [tiles][C]) is used as scratch (overwritten).
EXPORT(winograd_output_transform)
void winograd_output_transform(float* m, float* y, int out_height, int out_width, int channels,
                               int tiles_h, int tiles_w, int plane, int first, int last) {
  for (int t = first; t < last; t++) {
    TILE_ORIGIN(t)
    float* image = y + (int64_t)b * out_height * out_width * channels;
    float* in = m + (int64_t)t * channels;
    const int rows = out_height - row0 < 4 ? out_height - row0 : 4;
    const int columns = out_width - col0 < 4 ? out_width - col0 : 4;
    for (int c = 0; c < channels; c += 4) {
      // Columns, in place (rows 0–3 of each column), then rows straight into the image.
      for (int j = 0; j < 6; j++) output_transform(in + j * plane + c, 6 * plane, in + j * plane + c, 6 * plane, 4);
      for (int i = 0; i < rows; i++) {
        float* target = image + ((int64_t)(row0 + i) * out_width + col0) * channels + c;
        output_transform(in + i * 6 * plane + c, plane, target, channels, columns);
      }
    }
  }
}

// dm[ξ][t][c] = (A dY_t Aᵀ)[ξ] for tiles t in [first, last): dY_t the 4×4 block of dy at (4·th, 4·tw),
// zero beyond the output image. The tile-axis reduction of v and dm then gives the filter gradient.
EXPORT(winograd_gradient_transform)
void winograd_gradient_transform(const float* dy, float* dm, int out_height, int out_width, int channels,
                                 int tiles_h, int tiles_w, int plane, int first, int last) {
  for (int t = first; t < last; t++) {
    TILE_ORIGIN(t)
    const float* image = dy + (int64_t)b * out_height * out_width * channels;
    float* out = dm + (int64_t)t * channels;
    for (int c = 0; c < channels; c += 4) {
      for (int j = 0; j < 4; j++) {
        const int col = col0 + j;
        store_output_adjoint(load_or_zero(image, row0, col, out_height, out_width, channels, c),
                             load_or_zero(image, row0 + 1, col, out_height, out_width, channels, c),
                             load_or_zero(image, row0 + 2, col, out_height, out_width, channels, c),
                             load_or_zero(image, row0 + 3, col, out_height, out_width, channels, c),
                             out + j * plane + c, 6 * plane);
      }
      for (int i = 0; i < 6; i++) {
        float* r = out + i * 6 * plane + c;
        store_output_adjoint(wasm_v128_load(r), wasm_v128_load(r + plane), wasm_v128_load(r + 2 * plane), wasm_v128_load(r + 3 * plane), r, plane);
      }
    }
  }
}

// du[ξ] (+)= v[ξ]ᵀ·dm[ξ] for the positions ξ in [first, last): v [tiles][CI] at v + ξ·v_plane, dm [tiles][CO] at
// dm + ξ·dm_plane, du [36][CI][CO]
// (overwritten, or added to when `accumulate`, for the batch's later chunks). The filter gradient's 36 products,
// whose reduction runs over the tiles. Through conv2d_filter_gradient (one call per position, rows of du split
// between the threads) they cost 1.5–2x the forward's 36 products of the same size: its 6 × 8 register tile
// reads the whole [256, CO] strip of dm once per 6 input channels, which leaves L1 from 64 channels on. Here the
// tiles are cut into blocks of `block` tiles whose dm rows (block × CO floats) fit in L1 (the caller picks 8192 / CO,
// 32 KB); within a block a 4 × 8 tile of du accumulates in registers, its four v values coming from one vector load
// (v's channels are contiguous) and broadcast by lane shuffles. Threads split the positions. CI and CO must be
// multiples of 4.
EXPORT(winograd_filter_products)
void winograd_filter_products(const float* v, const float* dm, float* du, int first, int last, int tiles, int ci, int co,
                              int block, int accumulate, int v_plane, int dm_plane) {
  const int full_n = co - co % 8;
  for (int position = first; position < last; position++) {
    const float* vp = v + (int64_t)position * v_plane;
    const float* dmp = dm + (int64_t)position * dm_plane;
    float* dup = du + (int64_t)position * ci * co;
    if (!accumulate) __builtin_memset(dup, 0, (unsigned)(ci * co) * sizeof(float));
    for (int t0 = 0; t0 < tiles; t0 += block) {
      const int count = tiles - t0 < block ? tiles - t0 : block;
      const float* vb = vp + (int64_t)t0 * ci;
      const float* db = dmp + (int64_t)t0 * co;
      for (int c0 = 0; c0 < ci; c0 += 4) {
        float* o = dup + (int64_t)c0 * co;
        for (int n0 = 0; n0 < full_n; n0 += 8) {
          const v128_t zero = wasm_f32x4_splat(0);
          v128_t c00 = zero, c01 = zero, c10 = zero, c11 = zero, c20 = zero, c21 = zero, c30 = zero, c31 = zero;
          const float* a = vb + c0;
          const float* b = db + n0;
          for (int t = 0; t < count; t++, a += ci, b += co) {
            const v128_t x = wasm_v128_load(a);
            const v128_t b0 = wasm_v128_load(b);
            const v128_t b1 = wasm_v128_load(b + 4);
            v128_t s = wasm_i32x4_shuffle(x, x, 0, 0, 0, 0);
            c00 = wasm_f32x4_add(c00, wasm_f32x4_mul(s, b0));
            c01 = wasm_f32x4_add(c01, wasm_f32x4_mul(s, b1));
            s = wasm_i32x4_shuffle(x, x, 1, 1, 1, 1);
            c10 = wasm_f32x4_add(c10, wasm_f32x4_mul(s, b0));
            c11 = wasm_f32x4_add(c11, wasm_f32x4_mul(s, b1));
            s = wasm_i32x4_shuffle(x, x, 2, 2, 2, 2);
            c20 = wasm_f32x4_add(c20, wasm_f32x4_mul(s, b0));
            c21 = wasm_f32x4_add(c21, wasm_f32x4_mul(s, b1));
            s = wasm_i32x4_shuffle(x, x, 3, 3, 3, 3);
            c30 = wasm_f32x4_add(c30, wasm_f32x4_mul(s, b0));
            c31 = wasm_f32x4_add(c31, wasm_f32x4_mul(s, b1));
          }
          float* r = o + n0;
          wasm_v128_store(r, wasm_f32x4_add(wasm_v128_load(r), c00));
          wasm_v128_store(r + 4, wasm_f32x4_add(wasm_v128_load(r + 4), c01));
          r += co;
          wasm_v128_store(r, wasm_f32x4_add(wasm_v128_load(r), c10));
          wasm_v128_store(r + 4, wasm_f32x4_add(wasm_v128_load(r + 4), c11));
          r += co;
          wasm_v128_store(r, wasm_f32x4_add(wasm_v128_load(r), c20));
          wasm_v128_store(r + 4, wasm_f32x4_add(wasm_v128_load(r + 4), c21));
          r += co;
          wasm_v128_store(r, wasm_f32x4_add(wasm_v128_load(r), c30));
          wasm_v128_store(r + 4, wasm_f32x4_add(wasm_v128_load(r + 4), c31));
        }
        // A last group of four output channels (CO ≡ 4 mod 8).
        if (full_n < co) {
          const v128_t zero = wasm_f32x4_splat(0);
          v128_t c0v = zero, c1v = zero, c2v = zero, c3v = zero;
          const float* a = vb + c0;
          const float* b = db + full_n;
          for (int t = 0; t < count; t++, a += ci, b += co) {
            const v128_t x = wasm_v128_load(a);
            const v128_t b0 = wasm_v128_load(b);
            c0v = wasm_f32x4_add(c0v, wasm_f32x4_mul(wasm_i32x4_shuffle(x, x, 0, 0, 0, 0), b0));
            c1v = wasm_f32x4_add(c1v, wasm_f32x4_mul(wasm_i32x4_shuffle(x, x, 1, 1, 1, 1), b0));
            c2v = wasm_f32x4_add(c2v, wasm_f32x4_mul(wasm_i32x4_shuffle(x, x, 2, 2, 2, 2), b0));
            c3v = wasm_f32x4_add(c3v, wasm_f32x4_mul(wasm_i32x4_shuffle(x, x, 3, 3, 3, 3), b0));
          }
          float* r = o + full_n;
          wasm_v128_store(r, wasm_f32x4_add(wasm_v128_load(r), c0v));
          wasm_v128_store(r + co, wasm_f32x4_add(wasm_v128_load(r + co), c1v));
          wasm_v128_store(r + 2 * co, wasm_f32x4_add(wasm_v128_load(r + 2 * co), c2v));
          wasm_v128_store(r + 3 * co, wasm_f32x4_add(wasm_v128_load(r + 3 * co), c3v));
        }
      }
    }
  }
}

// u[ξ][ci][co] = (G g_{ci,co} Gᵀ)[ξ] for a filter g [3, 3, CI, CO].
EXPORT(winograd_filter_transform)
void winograd_filter_transform(const float* g, float* u, int in_channels, int out_channels) {
  const int64_t plane = (int64_t)in_channels * out_channels;
  for (int64_t e = 0; e < plane; e += 4) {
    for (int j = 0; j < 3; j++) filter_transform(g + j * plane + e, 3 * plane, u + j * plane + e, 6 * plane);
    for (int i = 0; i < 6; i++) filter_transform(u + i * 6 * plane + e, plane, u + i * 6 * plane + e, plane);
  }
}

// dg[kh, kw, ci, co] = (Gᵀ du_{ci,co} G)[kh, kw]: the filter gradient from its transformed form
// du [36][CI][CO], which is used as scratch (overwritten).
EXPORT(winograd_filter_adjoint)
void winograd_filter_adjoint(float* du, float* dg, int in_channels, int out_channels) {
  const int64_t plane = (int64_t)in_channels * out_channels;
  for (int64_t e = 0; e < plane; e += 4) {
    for (int j = 0; j < 6; j++) filter_adjoint(du + j * plane + e, 6 * plane, du + j * plane + e, 6 * plane);
    for (int i = 0; i < 3; i++) filter_adjoint(du + i * 6 * plane + e, plane, dg + i * 3 * plane + e, plane);
  }
}

#undef TILE_ORIGIN
#undef FILTER_ADJOINT
#undef FILTER_TRANSFORM
#undef OUTPUT_ADJOINT
#undef OUTPUT_TRANSFORM
#undef INPUT_TRANSFORM
#undef MUL
#undef SUB
#undef ADD
#undef F4
