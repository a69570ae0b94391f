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

// ---- CUDA sibling (ops/tsne_symmetrize_cuda.cu, kernels in ops/tsne_symmetrize_cuda.cuh) ----
// The same CSR on a stream (cudaStream_t as void*; nullptr is the legacy default stream), bit for
// bit (integer bookkeeping plus one double add and one double divide per entry, as on the CPU).
// ONE call, no host synchronisation: nnz is not known before the kernels count it, so the caller
// allocates indices and data with the upper bound 2 n k entries (k forward entries per row plus
// at most n k reverse ones) and reads nnz = indptr[n] afterwards; entries past indptr[n] are left
// untouched. Kernels, in stream order:
//   1. one thread per row: validate the row (0 <= j < n, j != i, P finite, no repeat), sort its k
//      forward entries by column (insertion sort, scratch) and count the in-degree of each
//      column with integer atomicAdd (order-independent);
//   2. a single-block exclusive scan of the in-degrees (each thread a contiguous chunk, the chunk
//      sums combined serially by thread 0: integer, fixed order);
//   3. one thread per row scatters its entries into the transposed lists (integer atomicAdd on a
//      per-column cursor: the order inside a list is arbitrary ...);
//   4. ... so one thread per row first sorts its transposed list by source row (insertion sort;
//      each source appears once), then merge-counts forward + transposed -> the row's length;
//   5. the same single-block scan -> indptr;
//   6. one thread per row merges again and writes its columns (ascending) and values
//      float((double(p_{j|i}) + double(p_{i|j})) / (2n)), p_{j|i} first, exactly the CPU's.
// Scratch (stream-ordered allocations): 4 n + 16 n k + 8 bytes. Rows with a hub (large in-degree)
// cost O(in-degree^2) in step 4.
//
// Validation the device cannot report by exception: `error` (one int32, device memory) receives
// -1 when the input is valid, else the smallest row index whose row is invalid; then indptr is
// all zeros and indices/data are not written. Requires n < 2^31 - 1 (the int32 error flag and
// in-degree counters; std::invalid_argument otherwise). Memory: indptr (n + 1 int64), indices
// (2 n k int64), data (2 n k float), error (1 int32), nbr (n x k int64), P (n x k float), all
// device memory. Returns without synchronizing. Results do not depend on the launch
// configuration.
inline constexpr int kTsneSymmetrizeCudaConfigs = 2;  // launch configurations (emulator tests)

void tsne_symmetrize_cuda(int64_t* indptr, int64_t* indices, float* data, int32_t* error,
                          const int64_t* nbr, const float* P, int64_t n, int64_t k, void* stream);

// Host arrays in and out (uploads, launches with launch configuration `config`, synchronizes and
// downloads the exact CSR: indices and data resized to nnz). An invalid input raises the CPU
// kernel's std::invalid_argument message (the row the error flag names is re-examined on the
// host). For tests and the device test suite.
void tsne_symmetrize_cuda_from_host(CsrMatrixF32* out, const int64_t* nbr, const float* P,
                                    int64_t n, int64_t k, int config);

}  // namespace lf
