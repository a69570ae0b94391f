// t-SNE gradient of KL(P || Q) for 2-D embeddings (van der Maaten 2014): exact O(n^2) and
// Barnes-Hut O(n log n) (CPU).
//
// With w_ij = 1 / (1 + |y_i - y_j|^2), Z = sum_{i != j} w_ij and q_ij = w_ij / Z:
//     grad_i = 4 * sum_j (exaggeration * p_ij - q_ij) * w_ij * (y_i - y_j)
//            = 4 * (exaggeration * attr_i - rep_i / Z),
//     attr_i = sum_j p_ij w_ij (y_i - y_j),   rep_i = sum_{j != i} w_ij^2 (y_i - y_j),
//     kl     = sum_{p_ij > 0} p_ij log(p_ij / q_ij)   (the un-exaggerated P).
// P is assumed symmetric (it is not checked); diagonal entries of P (dense or CSR) are ignored.
//
// Everything is accumulated in double, one point (row) per thread iteration with no shared
// accumulator; the per-point partial sums (z_i, KL terms) are reduced serially in index order, so
// results are bitwise independent of the thread count.
//
// Barnes-Hut: the attractive term is exact over the sparse (CSR) P; the repulsive term and Z use
// a quadtree (ops/tsne_bh_quad_tree.h) built serially once per call. A cell is summarised by its
// centre of mass when it does not contain y_i and side / |y_i - centre| < theta (count * w^2 * (y_i
// - centre) into rep_i, count * w into z_i); otherwise its children (or, for a leaf, its points,
// y_i itself excluded) are visited. theta = 0 never summarises: the exact gradient up to
// summation order. kl uses the Barnes-Hut Z (exact when theta = 0).
//
// Validation (std::invalid_argument -> ValueError), before anything is written: n >= 2, Y finite,
// P / pvals finite and >= 0, theta finite and >= 0, exaggeration finite, CSR consistent (indptr[0]
// == 0, non-decreasing, indptr[n] == nnz, 0 <= indices < n).
#pragma once

#include <cstdint>

namespace lf {

// grad: n x 2 output; Y: n x 2; P: n x n dense row-major. Returns kl through *kl when
// compute_kl (two logarithms per non-zero p_ij: as costly as the rest of the attractive term, so
// optimisers ask for it only every few iterations); otherwise *kl is NaN.
void tsne_gradient_exact_cpu(float* grad, double* kl, const float* Y, const float* P, int64_t n,
                             double exaggeration, bool compute_kl, int num_threads);

// Validates a CSR P (std::invalid_argument naming `who`): indptr[0] == 0, non-decreasing,
// indptr[n] == nnz, 0 <= indices < n, pvals finite and >= 0.
void check_tsne_csr(const int64_t* indptr, const int64_t* indices, const float* pvals, int64_t n,
                    int64_t nnz, const char* who);

// indptr: n + 1, indices / pvals: nnz = indptr[n] (CSR rows of P).
void tsne_gradient_bh_cpu(float* grad, double* kl, const float* Y, const int64_t* indptr,
                          const int64_t* indices, const float* pvals, int64_t n, int64_t nnz,
                          double theta, double exaggeration, bool compute_kl, int num_threads);

}  // namespace lf
