// The few macros of the kernel dialect that are not CUDA itself. Every kernel source (`.cuh`)
// includes this header and is compiled twice: by nvcc, where the macros below expand to plain
// CUDA, and by the host compiler after emu/cuda_emu.h, which defines them first (the definitions
// here are then skipped) for its CPU emulation.
//
//   LF_KERNEL_NS         the namespace of the kernel code, lf::LF_KERNEL_NS: `gpu` under nvcc,
//                        `emu` under the emulator, so both builds can live in one binary.
//   LF_SHARED(T, n, d)   a static shared-memory variable, written instead of `__shared__ T n d;`
//                        (e.g. LF_SHARED(float, tile, [BK][BM]); d is empty for a scalar). The
//                        emulator needs the name and the type to give every block freshly
//                        poisoned shared memory, which a plain `__shared__` declaration cannot
//                        give it; cuda_emu.h rejects a plain `__shared__` at compile time.
//   LF_DYNAMIC_SHARED(T, n)  the launch's dynamic shared memory viewed as T elements, written
//                        instead of `extern __shared__ T n[];`: under nvcc a `T* const n` into one
//                        16-byte aligned extern byte array (so kernels of one file may view it as
//                        different types), in the emulator a bounds-checked view of the bytes the
//                        launch gave. Every LF_DYNAMIC_SHARED of a kernel views the same bytes.
//   LF_UNROLL            `#pragma unroll` under nvcc, nothing on the host.
//
// And three device functions in lf::LF_KERNEL_NS, for warp-level code (a block's threads form
// warps of 32 consecutive linear thread indices, x fastest, as on every GPU):
//   linear_thread_id()   threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z)
//   lane_id()            linear_thread_id() % 32, the thread's lane in its warp
//   warp_id()            linear_thread_id() / 32, its warp in the block
#pragma once

#include <cstdint>

#ifndef LF_KERNEL_NS
#define LF_KERNEL_NS gpu
#endif

#ifndef LF_SHARED
#define LF_SHARED(type, name, dims) __shared__ type name dims
#endif

#ifndef LF_UNROLL
#ifdef __CUDACC__
#define LF_UNROLL _Pragma("unroll")
#else
#define LF_UNROLL
#endif
#endif

#ifndef LF_DYNAMIC_SHARED
#define LF_DYNAMIC_SHARED(type, name)                                      \
  extern __shared__ __align__(16) unsigned char lf_dynamic_shared_bytes[]; \
  type* const name = reinterpret_cast<type*>(lf_dynamic_shared_bytes)
#endif

#if defined(__CUDACC__) || defined(LF_CUDA_EMULATION)
namespace lf::LF_KERNEL_NS {

__device__ __forceinline__ unsigned linear_thread_id() {
  return threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
}
__device__ __forceinline__ unsigned lane_id() { return linear_thread_id() % 32u; }
__device__ __forceinline__ unsigned warp_id() { return linear_thread_id() / 32u; }

// Launch shape (host side) of the kernels that run one thread per work item in a grid-stride loop
// (rowwise = false) or one block per row (rowwise = true), for `items` items or rows. Config 0,
// for the device: 256 threads and up to 2^20 blocks. Config 1, for the emulator tests: small and
// ragged, so that they run several grid-stride rounds and partial blocks: 96 threads (not a power
// of two) and at most 5 blocks per item, or 32 threads and at most 3 blocks per row.
struct GridShape {
  dim3 grid, block;
};
inline GridShape items_or_rows_grid(bool rowwise, int64_t items, int config) {
  const int64_t threads = rowwise ? (config == 0 ? 256 : 32) : (config == 0 ? 256 : 96);
  int64_t blocks = rowwise ? items : (items + threads - 1) / threads;
  const int64_t cap = config == 0 ? int64_t{1} << 20 : (rowwise ? 3 : 5);
  if (blocks > cap) blocks = cap;
  if (blocks < 1) blocks = 1;
  return {dim3(static_cast<unsigned>(blocks)), dim3(static_cast<unsigned>(threads))};
}

}  // namespace lf::LF_KERNEL_NS
#endif
