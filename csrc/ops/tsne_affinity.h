// t-SNE input affinities (van der Maaten 2014, Barnes-Hut t-SNE): per-point perplexity
// calibration over the k nearest neighbours (CPU).
//
// For every row i of a row-major rows x k matrix D of squared distances to the k nearest
// neighbours (the point itself excluded; ascending order is conventional but not required), find
// the precision beta_i = 1 / (2 sigma_i^2) such that the conditional distribution
//     p_j|i = exp(-beta_i d_ij) / sum_l exp(-beta_i d_il)
// has entropy H_i = log(perplexity) (nats) within tol, by bisection on beta (doubling until the
// target is bracketed). Everything is computed in double with the max-shift trick (the row's
// smallest distance is subtracted before exponentiating, which leaves p unchanged), then P is
// stored in float32. Each row is handled by one thread: results are bitwise independent of the
// thread count.
//
// Special cases:
//  * all distances of a row equal (duplicates, or k == 1): p is uniform (1/k) whatever beta, and
//    beta_out = 0 is reported;
//  * target not reachable within max_iter (e.g. more tied nearest neighbours than the
//    perplexity, so H cannot drop below log(#ties)): the last iterate is used; P is still a
//    valid distribution (no NaN/Inf), rows still sum to 1.
//
// Validation (std::invalid_argument -> ValueError), before anything is written: k >= 1,
// perplexity > 0 and perplexity <= k (H <= log k, so log(perplexity) > log k is unreachable;
// perplexity well below k, e.g. k = 3 * perplexity, is recommended), tol > 0, max_iter >= 1,
// D finite.
#pragma once

#include <cmath>
#include <cstdint>

#include "core/check.h"

namespace lf {

// The argument checks shared by the CPU kernel and the CUDA launcher (std::invalid_argument).
inline void tsne_perplexity_check(int64_t rows, int64_t k, double perplexity, double tol,
                                  int max_iter) {
  LF_CHECK(rows >= 0, "tsne_perplexity: negative rows ", rows);
  LF_CHECK(k >= 1, "tsne_perplexity: k must be >= 1, got ", k);
  LF_CHECK(perplexity > 0.0 && std::isfinite(perplexity),
           "tsne_perplexity: perplexity must be a finite number > 0, got ", perplexity);
  LF_CHECK(perplexity <= static_cast<double>(k), "tsne_perplexity: perplexity (", perplexity,
           ") must not exceed the number of neighbours k = ", k,
           " (the entropy cannot exceed log(k)); k >= 3 * perplexity is recommended");
  LF_CHECK(tol > 0.0 && std::isfinite(tol), "tsne_perplexity: tol must be finite and > 0, got ",
           tol);
  LF_CHECK(max_iter >= 1, "tsne_perplexity: max_iter must be >= 1, got ", max_iter);
}

// P: rows x k output (each row sums to 1); beta_out: rows (precision of each row, in the units
// of D). P and beta_out must not overlap D.
void tsne_perplexity_cpu(float* P, float* beta_out, const float* D, int64_t rows, int64_t k,
                         double perplexity, double tol, int max_iter, int num_threads);

// ---- CUDA sibling (ops/tsne_affinity_cuda.cu, kernel in ops/tsne_affinity_cuda.cuh) ----
// The same calibration on a stream (cudaStream_t as void*; nullptr is the legacy default stream):
// one thread per row (grid-stride), the CPU's loop of tsne_perplexity_cpu written out again with
// the same double operations in the same order (the bisection, its start, its stopping rule and
// the special cases are identical). The launcher is compiled with -fmad=false and log(perplexity)
// is computed on the host, so the only difference from the CPU is CUDA's exp and log (within 1
// ulp, not glibc's): they can move H in its last bits, which at worst changes one bisection
// decision when |H - log(perplexity)| is within an ulp of tol (the emulated kernel, which uses
// the host's libm, equals the CPU bit for bit). No scratch memory: the shifted distances and the
// weights are recomputed from D (same values), nothing is atomic, and results do not depend on
// the launch configuration.
//
// Memory: P (rows x k float), beta_out (rows float), D (rows x k float), all device memory. The
// launcher checks the sizes and scalars (std::invalid_argument, the CPU's messages) but cannot
// check device contents: D must be finite (the *_from_host helper and the bindings check it).
// It returns without synchronizing.
inline constexpr int kTsnePerplexityCudaConfigs = 2;  // launch configurations (emulator tests)

void tsne_perplexity_cuda(float* P, float* beta_out, const float* D, int64_t rows, int64_t k,
                          double perplexity, double tol, int max_iter, void* stream);

// Host arrays in and out (uploads, launches with launch configuration `config`, synchronizes and
// downloads); checks D like the CPU kernel. For tests and the device test suite.
void tsne_perplexity_cuda_from_host(float* P, float* beta_out, const float* D, int64_t rows,
                                    int64_t k, double perplexity, double tol, int max_iter,
                                    int config);

}  // namespace lf
