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

#include <cstdint>

namespace lf {

// P: rows x k output (each row sums to 1); beta_out: rows (precision of each row, in the units
// of D). P and beta_out must not overlap D.
void tsne_perplexity_cpu(float* P, float* beta_out, const float* D, int64_t rows, int64_t k,
                         double perplexity, double tol, int max_iter, int num_threads);

}  // namespace lf
