// Portable interaction kernel of the grouped Barnes-Hut t-SNE gradient
// (ops/tsne_grouped_kernels.h). Eight independent partial sums per quantity (sources j mod 8),
// added in a fixed tree at the end: the same association as an 8-lane vector, and enough
// independent chains to pipeline.
#include "ops/tsne_grouped_kernels.h"

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

}  // namespace

const TsneKernels& tsne_kernels_scalar() {
  static const TsneKernels k{"scalar", &repulse_scalar};
  return k;
}

}  // namespace lf::tsne_detail
