// Device side of the CUDA t-SNE perplexity calibration (contract in ops/tsne_affinity.h, CUDA
// section), plus the host-side pieces shared by the launcher (ops/tsne_affinity_cuda.cu, lf::gpu)
// and the emulator (emu/tsne_affinity_cuda_emu.cpp, lf::emu): the argument checks, the launch
// geometry and the dispatch. The kernel uses only the emulated subset of emu/cuda_emu.h: exp,
// log, fmin, fabs, isinf (double, <math.h>), IEEE `/`; no shared memory, atomics or warp
// functions.
//
//   tsne_perplexity_kernel: one thread per row (grid-stride), the CPU's per-row loop of
//     ops/tsne_affinity_cpu.cpp written out again with the same operations in the same order.
//     The CPU keeps the shifted distances d_j and the weights e_j in per-thread vectors; here
//     both are recomputed from D when needed (d_j = double(D_rj) - dmin and exp(-beta d_j) with
//     the final beta are the same values), so the kernel needs no scratch memory. A warp's loads
//     are k floats apart (not coalesced); each row is re-read once per bisection step, mostly
//     from L1/L2, and the work is dominated by the double exp (iterations x k per row).
#pragma once

#include <math.h>

#include <cmath>
#include <cstdint>

#include "core/check.h"
#include "core/cuda_subset.h"  // LF_KERNEL_NS
#include "ops/tsne_affinity.h"

namespace lf {

// Host-side checks of the sizes and scalars, with the CPU kernel's messages
// (std::invalid_argument).
inline void tsne_perplexity_check_params(int64_t rows, int64_t k, double perplexity, double tol,
                                         int max_iter, int config) {
  tsne_perplexity_check(rows, k, perplexity, tol, max_iter);
  LF_CHECK(config >= 0 && config < kTsnePerplexityCudaConfigs,
           "tsne_perplexity_cuda: config must be in [0, ", kTsnePerplexityCudaConfigs, "), got ",
           config);
}

// And of the host contents of D, as the CPU kernel checks them (the *_from_host helper and the
// emulator).
inline void tsne_perplexity_check_host(const float* D, int64_t rows, int64_t k) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < k; ++j) {
      LF_CHECK(std::isfinite(D[r * k + j]), "tsne_perplexity: D contains NaN or Inf (row ", r, ")");
    }
  }
}

}  // namespace lf

namespace lf::LF_KERNEL_NS {

struct TsnePerplexityGeometry {
  int threads;     // per block
  int64_t blocks;  // at most this many blocks (grid-stride beyond)
};

// config 0: the device's; config 1: blocks of 8 threads and at most 2 blocks, so the emulator
// tests run several grid-stride rounds and ragged blocks on small inputs.
inline TsnePerplexityGeometry tsne_perplexity_geometry(int config) {
  if (config == 0) return {128, int64_t{1} << 20};
  return {8, 2};
}

// One thread per row r: P[r, :] and beta_out[r]; target = log(perplexity) (computed on the host,
// as the CPU computes it).
__global__ void tsne_perplexity_kernel(float* __restrict__ P, float* __restrict__ beta_out,
                                       const float* __restrict__ D, int64_t rows, int64_t k,
                                       double target, double tol, int max_iter) {
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t r = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; r < rows; r += step) {
    const float* dr = D + r * k;
    float* pr = P + r * k;
    double dmin = dr[0];
    for (int64_t j = 1; j < k; ++j) dmin = fmin(dmin, static_cast<double>(dr[j]));
    double dsum = 0.0;
    for (int64_t j = 0; j < k; ++j) dsum += static_cast<double>(dr[j]) - dmin;
    if (!(dsum > 0.0)) {  // all distances equal: uniform whatever beta
      const float u = static_cast<float>(1.0 / static_cast<double>(k));
      for (int64_t j = 0; j < k; ++j) pr[j] = u;
      beta_out[r] = 0.0f;
      continue;
    }
    double beta = static_cast<double>(k) / dsum;  // beta * mean(shifted distance) = 1
    double lo = 0.0, hi = HUGE_VAL, S = 0.0;
    for (int it = 0;; ++it) {
      S = 0.0;
      double SD = 0.0;
      for (int64_t j = 0; j < k; ++j) {
        const double d = static_cast<double>(dr[j]) - dmin;
        const double e = exp(-beta * d);
        S += e;
        SD += d * e;
      }
      const double H = log(S) + beta * (SD / S);
      const double diff = H - target;
      if (fabs(diff) <= tol || it + 1 >= max_iter) break;
      if (diff > 0.0) {  // too flat: sharpen
        lo = beta;
        beta = isinf(hi) ? beta * 2.0 : 0.5 * (beta + hi);
      } else {
        hi = beta;
        beta = 0.5 * (beta + lo);
      }
    }
    const double invS = 1.0 / S;
    for (int64_t j = 0; j < k; ++j) {
      const double d = static_cast<double>(dr[j]) - dmin;
      pr[j] = static_cast<float>(exp(-beta * d) * invS);
    }
    beta_out[r] = static_cast<float>(beta);
  }
}

// The calibration through launch(grid, block, kernel, args...) (a real <<<>>> launch or the
// emulator's): all pointers in the launch's memory.
template <class Launch>
void tsne_perplexity_cuda_run(float* P, float* beta_out, const float* D, int64_t rows, int64_t k,
                              double perplexity, double tol, int max_iter, int config,
                              Launch&& launch) {
  tsne_perplexity_check_params(rows, k, perplexity, tol, max_iter, config);
  if (rows == 0) return;
  const TsnePerplexityGeometry g = tsne_perplexity_geometry(config);
  int64_t blocks = (rows + g.threads - 1) / g.threads;
  if (blocks > g.blocks) blocks = g.blocks;
  launch(dim3(static_cast<unsigned>(blocks)), dim3(static_cast<unsigned>(g.threads)),
         &tsne_perplexity_kernel, P, beta_out, D, rows, k, std::log(perplexity), tol, max_iter);
}

}  // namespace lf::LF_KERNEL_NS
