// Portable interaction kernel of the grouped Barnes-Hut t-SNE gradient (ops/tsne_kernels.h).
// Eight independent partial sums per quantity (sources j mod 8), added in a fixed tree at the
// end: the same association as an 8-lane vector, and enough independent chains to pipeline.
#include "ops/tsne_kernels.h"

namespace lf::tsne_detail {
namespace {

void repulse_scalar(const float* sx, const float* sy, const float* sm, int64_t m, const float* tx,
                    const float* ty, int64_t nt, float* z, float* rx, float* ry) {
  constexpr int W = 8;
  for (int64_t t = 0; t < nt; ++t) {
    const float px = tx[t], py = ty[t];
    float az[W] = {}, ax[W] = {}, ay[W] = {};
    for (int64_t j = 0; j < m; j += W) {
      for (int l = 0; l < W; ++l) {
        const float dx = px - sx[j + l], dy = py - sy[j + l];
        const float q = 1.0f / (1.0f + dx * dx + dy * dy);
        const float mq = (j + l == t ? 0.0f : sm[j + l]) * q;
        const float mq2 = mq * q;
        az[l] += mq;
        ax[l] += mq2 * dx;
        ay[l] += mq2 * dy;
      }
    }
    for (int w = W / 2; w >= 1; w /= 2) {
      for (int l = 0; l < w; ++l) {
        az[l] += az[l + w];
        ax[l] += ax[l + w];
        ay[l] += ay[l + w];
      }
    }
    z[t] = az[0];
    rx[t] = ax[0];
    ry[t] = ay[0];
  }
}

void attract_scalar(const int64_t* indptr, const int32_t* indices, const float* pvals,
                    const float* Y, const int32_t* rows, int64_t nrows, float* attr) {
  for (int64_t r = 0; r < nrows; ++r) {
    const int64_t i = rows[r];
    const float xi = Y[2 * i], yi = Y[2 * i + 1];
    float ax = 0.0f, ay = 0.0f;
    for (int64_t k = indptr[i]; k < indptr[i + 1]; ++k) {
      const int64_t j = indices[k];
      const float dx = xi - Y[2 * j], dy = yi - Y[2 * j + 1];
      const float pw = pvals[k] / (1.0f + dx * dx + dy * dy);
      ax += pw * dx;
      ay += pw * dy;
    }
    attr[2 * i] = ax;
    attr[2 * i + 1] = ay;
  }
}

}  // namespace

const TsneKernels& tsne_kernels_scalar() {
  static const TsneKernels k{"scalar", &repulse_scalar, &attract_scalar};
  return k;
}

}  // namespace lf::tsne_detail
