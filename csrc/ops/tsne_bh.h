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

// ---- CUDA sibling (ops/tsne_bh_cuda.cu, kernels in ops/tsne_bh_cuda.cuh) ----
// The same gradients, in the same double arithmetic and the same summation order as the CPU
// kernels above, on a stream (cudaStream_t as void*; nullptr is the legacy default stream):
//   1. one thread per point i sums its row in double, as the CPU's per-point loop does (exact: j
//      in index order over the dense row P[i, :]; Barnes-Hut: the CSR row, then the same
//      depth-first traversal with the same opening criterion and child order), and stores the
//      per-point sums attr_i, rep_i, z_i and the KL terms;
//   2. one block adds the per-point z_i and KL terms serially in index order, the CPU's order
//      (the block stages them through shared memory; one thread adds: O(n) serial additions,
//      negligible beside step 1 at the n the exact gradient is used at; a few ms at n = 1e6 by
//      estimate, not yet measured on a device);
//   3. one thread per element scales grad = 4 (exaggeration attr - rep / Z) to float.
// The file is compiled with -fmad=false: no fused multiply-add, so every double operation rounds
// as on the CPU and grad equals the CPU kernel's bit for bit on an IEEE device (division in
// double is correctly rounded in CUDA). The KL may differ in its last bits (CUDA's log is within
// 1 ulp, not glibc's). Nothing is atomic; results do not depend on the launch configuration.
//
// Memory: grad (n x 2 float), kl (one double, or nullptr: the KL is then neither computed nor
// written), Y, P / indptr / indices / pvals are DEVICE pointers. The launchers allocate their
// scratch (7n + 2 doubles, plus the uploaded tree for Barnes-Hut) stream-ordered
// (cudaMallocAsync / cudaFreeAsync on `stream`) and return without synchronizing, except as
// noted for Y_host below. They check the sizes and scalars (std::invalid_argument) but cannot
// check device contents: Y must be finite, P / pvals finite and >= 0 and the CSR consistent (the
// *_from_host helpers and the bindings check them first, as the CPU kernels do).
//
// Barnes-Hut: the quadtree (ops/tsne_bh_quad_tree.h, the CPU's tree, serial insertion in point
// order) is built on the HOST -- O(n log n) and cheap -- flattened into arrays (cells with their
// centre, half-width, centre of mass, count, children and a range of a point permutation for
// leaves, listed in the CPU's visiting order) and uploaded; the traversal, the O(n log n) hot
// part, runs on the device with an explicit per-thread stack. Y_host is a HOST copy of the device
// array Y (the same n x 2 values: the tree is built from it, the device reads Y); nullptr copies Y
// from the device on `stream` and waits for it (the call then synchronizes the stream).
inline constexpr int kTsneCudaConfigs = 2;  // launch configurations (the emulator tests all)

void tsne_gradient_exact_cuda(float* grad, double* kl, const float* Y, const float* P, int64_t n,
                              double exaggeration, void* stream);

void tsne_gradient_bh_cuda(float* grad, double* kl, const float* Y, const float* Y_host,
                           const int64_t* indptr, const int64_t* indices, const float* pvals,
                           int64_t n, int64_t nnz, double theta, double exaggeration, void* stream);

// Host arrays in and out (the tests' entry): checks the arguments like the CPU kernels, uploads,
// runs launch configuration `config` on the default stream, waits, downloads grad; returns the KL
// (NaN when compute_kl is false).
double tsne_gradient_exact_cuda_from_host(float* grad, const float* Y, const float* P, int64_t n,
                                          double exaggeration, bool compute_kl, int config);
double tsne_gradient_bh_cuda_from_host(float* grad, const float* Y, const int64_t* indptr,
                                       const int64_t* indices, const float* pvals, int64_t n,
                                       int64_t nnz, double theta, double exaggeration,
                                       bool compute_kl, int config);

}  // namespace lf
