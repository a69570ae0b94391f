// Sparse symmetrisation of t-SNE's kNN conditional affinities (CPU): the joint P of Barnes-Hut
// t-SNE from the kNN graph (ops/knn.h) and the per-row calibration (ops/tsne_affinity.h).
//
// Given the kNN graph nbr (n x k int64, row i = the neighbours of i, no self, no repeated index
// in a row) and conditional probabilities P (n x k float32, P[i, t] = p_{nbr[i,t] | i}), builds
// the CSR of the symmetric joint probabilities
//     P_ij = (p_{j|i} + p_{i|j}) / (2 n)
// over the union of both directions: indptr (n + 1), column indices sorted ascending within each
// row, no diagonal. Where both p_{j|i} and p_{i|j} exist they are added in double (p_{j|i} first),
// divided by 2n in double and rounded once to float32; a single entry is divided in double and
// rounded once. This is bit for bit what the former numpy code in _tsne.joint_probabilities
// computed (np.add.reduceat over the stable-sorted keys, then / (2.0 * n), then .astype(float32)).
// Each output row is merged by one thread from fixed, sorted inputs: bitwise independent of the
// thread count. Validation (std::invalid_argument) before anything is returned: 0 <= nbr < n,
// nbr[i, t] != i, no index twice in a row, P finite.
#pragma once

#include <cstdint>
#include <vector>

namespace lf {

// CSR of P = (P_cond + P_cond^T) / (2 n). The vectors are resized by the call (the caller cannot
// know nnz in advance); indptr has n + 1 entries, indices and data indptr[n].
struct CsrMatrixF32 {
  std::vector<int64_t> indptr;
  std::vector<int64_t> indices;
  std::vector<float> data;
};
void tsne_symmetrize_cpu(CsrMatrixF32* out, const int64_t* nbr, const float* P, int64_t n,
                         int64_t k, int num_threads);

// Reference (serial): the obvious algorithm the merge replaces -- all 2 n k (row, column, p)
// triples of P_cond and P_cond^T sorted by (row, column), equal keys summed in double, divided
// by 2n in double and rounded once. Bitwise equal to tsne_symmetrize_cpu; same validation.
void tsne_symmetrize_naive(CsrMatrixF32* out, const int64_t* nbr, const float* P, int64_t n,
                           int64_t k);

}  // namespace lf
