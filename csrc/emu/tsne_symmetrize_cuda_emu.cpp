// Emulated twin of ops/tsne_symmetrize_cuda.cu: the same kernel source compiled by the host
// compiler, with the launcher's steps (scratch, launches, the error flag, the exact CSR).
#include "emu/tsne_symmetrize_cuda_emu.h"

#include "emu/cuda_emu.h"  // must come before the kernel: it defines the CUDA keywords

#include <cmath>
#include <cstddef>
#include <utility>
#include <vector>

#include "ops/tsne_symmetrize_cuda.cuh"

namespace lf {

void tsne_symmetrize_cuda_emulated(CsrMatrixF32* out, const int64_t* nbr, const float* P, int64_t n,
                                   int64_t k, int config, const emu::Schedule& schedule) {
  tsne_symmetrize_check_params(n, k, config);
  const size_t nk = static_cast<size_t>(n * k), n1 = static_cast<size_t>(n) + 1;
  // Outputs and scratch start as garbage (-7 / NaN), like uninitialised device memory: an entry
  // the kernels forget to write shows up.
  std::vector<int32_t> cnt(static_cast<size_t>(n), -7);
  std::vector<int64_t> tptr(n1, -7), fidx(nk, -7), tlist(nk, -7);
  std::vector<int64_t> indptr(n1, -7), indices(2 * nk, -7);
  std::vector<float> data(2 * nk, std::nanf(""));
  int32_t error = -7;
  const emu::TsneSymScratch s{cnt.data(), tptr.data(), fidx.data(), tlist.data()};
  emu::tsne_symmetrize_cuda_run(indptr.data(), indices.data(), data.data(), &error, nbr, P, n, k,
                                config, s,
                                [&](emu::dim3 grid, emu::dim3 block, auto kernel, auto... args) {
                                  emu::launch(schedule, grid, block, kernel, args...);
                                });
  if (error >= 0) tsne_symmetrize_throw_row_error(nbr, P, n, k, error);
  LF_CHECK_RT(error == -1, "tsne_symmetrize_cuda: error flag not written (", error, ")");
  const int64_t nnz = indptr[static_cast<size_t>(n)];
  out->indptr = std::move(indptr);
  indices.resize(static_cast<size_t>(nnz));
  data.resize(static_cast<size_t>(nnz));
  out->indices = std::move(indices);
  out->data = std::move(data);
}

}  // namespace lf
