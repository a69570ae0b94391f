// CUDA t-SNE symmetrisation launcher and its host-array entry (contract in ops/tsne_symmetrize.h,
// CUDA section). The kernels, the checks, the geometry and the dispatch live in
// ops/tsne_symmetrize_cuda.cuh, shared with the CPU emulator (emu/tsne_symmetrize_cuda_emu.cpp).
// The only floating-point operations are one double add and one double divide per entry (no
// multiply to fuse), so the values are the CPU's bit for bit.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/check.h"
#include "core/cuda_utils.cuh"
#include "ops/tsne_symmetrize.h"
#include "ops/tsne_symmetrize_cuda.cuh"

namespace lf {

namespace {

using cuda::cuda_check;
using cuda::DeviceArray;
using cuda::StreamArray;
using cuda::StreamLaunch;

// Scratch in stream order, then the six launches; returns without synchronizing.
void run_on_stream(int64_t* indptr, int64_t* indices, float* data, int32_t* error,
                   const int64_t* nbr, const float* P, int64_t n, int64_t k, int config,
                   cudaStream_t stream) {
  tsne_symmetrize_check_params(n, k, config);
  StreamArray<int32_t> cnt(n, stream);
  StreamArray<int64_t> tptr(n + 1, stream), fidx(n * k, stream), tlist(n * k, stream);
  const gpu::TsneSymScratch s{cnt.get(), tptr.get(), fidx.get(), tlist.get()};
  StreamLaunch l{stream};
  gpu::tsne_symmetrize_cuda_run(indptr, indices, data, error, nbr, P, n, k, config, s, l);
  l.check("tsne_symmetrize_cuda");
}

}  // namespace

void tsne_symmetrize_cuda(int64_t* indptr, int64_t* indices, float* data, int32_t* error,
                          const int64_t* nbr, const float* P, int64_t n, int64_t k, void* stream) {
  run_on_stream(indptr, indices, data, error, nbr, P, n, k, 0, static_cast<cudaStream_t>(stream));
}

void tsne_symmetrize_cuda_from_host(CsrMatrixF32* out, const int64_t* nbr, const float* P,
                                    int64_t n, int64_t k, int config) {
  tsne_symmetrize_check_params(n, k, config);
  DeviceArray<int64_t> d_nbr(nbr, n * k), d_indptr(n + 1), d_indices(2 * n * k);
  DeviceArray<float> d_p(P, n * k), d_data(2 * n * k);
  DeviceArray<int32_t> d_error(1);
  run_on_stream(d_indptr.get(), d_indices.get(), d_data.get(), d_error.get(), d_nbr.get(),
                d_p.get(), n, k, config, nullptr);
  cuda_check(cudaStreamSynchronize(nullptr), "tsne_symmetrize_cuda execution");
  int32_t error = 0;
  d_error.download(&error, 1);
  if (error >= 0) tsne_symmetrize_throw_row_error(nbr, P, n, k, error);
  LF_CHECK_RT(error == -1, "tsne_symmetrize_cuda: error flag not written (", error, ")");
  out->indptr.resize(static_cast<size_t>(n) + 1);
  d_indptr.download(out->indptr.data(), n + 1);
  const int64_t nnz = out->indptr[static_cast<size_t>(n)];
  out->indices.resize(static_cast<size_t>(nnz));
  out->data.resize(static_cast<size_t>(nnz));
  d_indices.download(out->indices.data(), nnz);
  d_data.download(out->data.data(), nnz);
}

}  // namespace lf
