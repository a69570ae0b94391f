// Device side of the CUDA row-wise top-k (contracts in ops/topk.h): the kernels, the launch
// geometry, the argument checks and the dispatch shared by the launcher (ops/topk_cuda.cu, lf::gpu)
// and the emulator (emu/topk_cuda_emu.cpp, lf::emu). The selection is the block radix select of
// ops/topk_cuda_select.cuh (why a radix select: see there) on the CPU kernel's unique 64-bit keys
// ((ordered value) << 32 | column), so the selected set is exactly the CPU's. Compiled twice, so
// it uses only the emulated subset of emu/cuda_emu.h: LF_SHARED + __syncthreads(), atomicAdd on
// unsigned (shared memory) and atomicExch on int (global memory); no warp functions, no float
// atomics.
#pragma once

#include <cstdint>

#include "core/check.h"
#include "core/cuda_subset.h"  // LF_KERNEL_NS, LF_SHARED
#include "ops/topk.h"
#include "ops/topk_cuda_select.cuh"  // topk_key, block_select_smallest

namespace lf::LF_KERNEL_NS {

struct TopkLaunch {
  dim3 grid, block;
};

// Rows: one block per row, 256 threads (config 0, grid capped at 2^20) or 32 threads with at most
// 3 blocks (config 1). Backward: one thread per element, 256 threads and up to 2^20 blocks, or 96
// threads and at most 5 blocks (grid-stride rounds, ragged last blocks).
inline TopkLaunch topk_cuda_geometry(bool rowwise, int64_t rows, int64_t cols, int config) {
  LF_CHECK(config >= 0 && config < ::lf::kTopkCudaConfigs, "topk_cuda: config must be in [0, ",
           ::lf::kTopkCudaConfigs, "), got ", config);
  const GridShape g = items_or_rows_grid(rowwise, rowwise ? rows : rows * cols, config);
  return {g.grid, g.block};
}

// Host-side checks shared by the launcher and the emulator (ops/topk.h rules).
inline void topk_cuda_check(const float* y, const uint8_t* mask, const float* x, int64_t rows,
                            int64_t cols, int64_t k, int config) {
  LF_CHECK(rows >= 0 && cols >= 0, "topk_rows: negative shape (", rows, ", ", cols, ")");
  LF_CHECK(config >= 0 && config < ::lf::kTopkCudaConfigs, "topk_cuda: config must be in [0, ",
           ::lf::kTopkCudaConfigs, "), got ", config);
  if (rows == 0 || cols == 0) return;
  LF_CHECK(k >= 1 && k <= cols, "topk_rows: k must be in [1, ", cols, "], got ", k);
  LF_CHECK(cols <= INT32_MAX, "topk_rows: cols must fit in int32, got ", cols);
  LF_CHECK(y != nullptr && mask != nullptr && x != nullptr, "topk_rows_cuda: null pointer");
}

inline void topk_backward_cuda_check(const float* dx, const float* dy, const uint8_t* mask,
                                     int64_t rows, int64_t cols, int config) {
  LF_CHECK(rows >= 0 && cols >= 0, "topk_rows_backward: negative shape (", rows, ", ", cols, ")");
  LF_CHECK(config >= 0 && config < ::lf::kTopkCudaConfigs, "topk_cuda: config must be in [0, ",
           ::lf::kTopkCudaConfigs, "), got ", config);
  if (rows == 0 || cols == 0) return;
  LF_CHECK(dx != nullptr && dy != nullptr && mask != nullptr,
           "topk_rows_backward_cuda: null pointer");
}

// *flag = 0 (one thread): the error flags start clear on the stream, before the kernel that sets
// them.
__global__ void topk_clear_flag_kernel(int32_t* flag) {
  if (threadIdx.x == 0 && blockIdx.x == 0) *flag = 0;
}

// One block per row (grid-stride over rows). A row with a NaN: zeros, and *nan_flag = 1.
__global__ void topk_rows_kernel(float* y, uint8_t* mask, int32_t* nan_flag, const float* x,
                                 int64_t rows, int64_t cols, int64_t k) {
  LF_SHARED(unsigned, hist, [256]);
  LF_SHARED(unsigned long long, st, [3]);
  LF_SHARED(unsigned, nans, [1]);
  const int t = static_cast<int>(threadIdx.x), T = static_cast<int>(blockDim.x);
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    uint8_t* mr = mask + r * cols;
    if (t == 0) nans[0] = 0u;
    __syncthreads();
    for (int64_t j = t; j < cols; j += T) {
      if (xr[j] != xr[j]) atomicAdd(&nans[0], 1u);
    }
    __syncthreads();  // nans is final for this row
    if (nans[0] != 0u) {
      for (int64_t j = t; j < cols; j += T) {
        yr[j] = 0.0f;
        mr[j] = 0;
      }
      if (t == 0 && nan_flag != nullptr) atomicExch(nan_flag, 1);
    } else if (k == cols) {
      for (int64_t j = t; j < cols; j += T) {
        yr[j] = xr[j];
        mr[j] = 1;
      }
    } else {
      const RadixSelection sel =
          block_select_smallest(hist, st, cols, static_cast<unsigned long long>(k),
                                [xr](int64_t j, unsigned long long& key) {
                                  key = topk_key(xr[j], j);
                                  return true;
                                });
      for (int64_t j = t; j < cols; j += T) {
        const float v = xr[j];
        const bool keep = sel.keeps(topk_key(v, j));
        yr[j] = keep ? v : 0.0f;
        mr[j] = keep ? 1 : 0;
      }
    }
    __syncthreads();  // everyone has read nans before the next row clears it
  }
}

__global__ void topk_rows_backward_kernel(float* dx, const float* dy, const uint8_t* mask,
                                          int64_t n) {
  const int64_t step = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += step) {
    dx[i] = mask[i] ? dy[i] : 0.0f;
  }
}

// Enqueues the forward through launch(grid, block, kernel, args...) (a real <<<>>> launch in the
// launcher, emu::launch under a schedule in the emulator): clears *nan_flag, then the row kernel.
// Checks the arguments first; an empty problem launches nothing but the flag clear.
template <class Launch>
void topk_rows_cuda_run(float* y, uint8_t* mask, int32_t* nan_flag, const float* x, int64_t rows,
                        int64_t cols, int64_t k, int config, Launch&& launch) {
  topk_cuda_check(y, mask, x, rows, cols, k, config);
  if (nan_flag != nullptr) launch(dim3(1), dim3(1), &topk_clear_flag_kernel, nan_flag);
  if (rows == 0 || cols == 0) return;
  const TopkLaunch g = topk_cuda_geometry(true, rows, cols, config);
  launch(g.grid, g.block, &topk_rows_kernel, y, mask, nan_flag, x, rows, cols, k);
}

template <class Launch>
void topk_rows_backward_cuda_run(float* dx, const float* dy, const uint8_t* mask, int64_t rows,
                                 int64_t cols, int config, Launch&& launch) {
  topk_backward_cuda_check(dx, dy, mask, rows, cols, config);
  if (rows == 0 || cols == 0) return;
  const TopkLaunch g = topk_cuda_geometry(false, rows, cols, config);
  launch(g.grid, g.block, &topk_rows_backward_kernel, dx, dy, mask, rows * cols);
}

}  // namespace lf::LF_KERNEL_NS
