// The block-wide exact radix select of the CUDA top-k (ops/topk_cuda.cuh), also used by the kNN
// selection (ops/knn_cuda.cuh): device functions only (no kernels), so both kernel sources may
// include it. Compiled twice like every kernel source (nvcc: lf::gpu; the emulator after
// emu/cuda_emu.h: lf::emu), within the emulated subset: LF_SHARED memory passed in, __syncthreads()
// and atomicAdd on unsigned.
//
// Why a radix select: it is exact for any row length with O(length) work per pass and a fixed
// number of passes (at most 8 over 64-bit keys), where the simpler "count the elements that beat
// mine" is O(length^2 / threads). Its only shared state is a 256-bin histogram of integer counts,
// which do not depend on the order of the atomic increments, so the result is deterministic.
#pragma once

#include <cstdint>
#include <cstring>

#include "core/cuda_subset.h"  // LF_KERNEL_NS

namespace lf::LF_KERNEL_NS {

// The IEEE bits of a float.
__device__ __forceinline__ unsigned topk_float_bits(float v) {
#ifdef __CUDACC__
  return __float_as_uint(v);
#else
  unsigned b;
  std::memcpy(&b, &v, sizeof b);
  return b;
#endif
}

// The float of IEEE bits b.
__device__ __forceinline__ float topk_bits_float(unsigned b) {
#ifdef __CUDACC__
  return __uint_as_float(b);
#else
  float v;
  std::memcpy(&v, &b, sizeof v);
  return v;
#endif
}

// topk_rows_cpu's key: ascending key = descending value, then ascending column. High half: the
// complement of the float's order-preserving unsigned image (-0 mapped to +0 first, so they tie
// as in a float compare); low half: the column. Not for NaN (rejected before).
__device__ __forceinline__ unsigned long long topk_key(float v, int64_t j) {
  unsigned b = topk_float_bits(v);
  if (b == 0x80000000u) b = 0u;  // -0 -> +0
  const unsigned ord = (b & 0x80000000u) ? ~b : (b | 0x80000000u);
  return (static_cast<unsigned long long>(~ord) << 32) | static_cast<unsigned long long>(j);
}

// Result of block_select_smallest: the `want` smallest keys are exactly those with
// (key >> shift) <= (prefix >> shift).
struct RadixSelection {
  unsigned long long prefix;
  int shift;
  __device__ bool keeps(unsigned long long key) const {
    return (key >> shift) <= (prefix >> shift);
  }
};

// Block-wide exact selection of the `want` smallest of the unique 64-bit keys key_of(j, key)
// (j in [0, m); key_of returns false for a non-candidate), 1 <= want <= number of candidates.
// MSB-first radix select, 8 bits per pass: a histogram of the digit of the candidates matching the
// prefix chosen so far; thread 0 walks the bins upward to the digit holding the want-th key; the
// selection ends as soon as that bin holds exactly the keys still wanted (keys are unique, so at
// the last digit it always does). Every thread of the block must call it (it has barriers) with
// the same arguments, and gets the same result. hist: 256 shared unsigned; st: 3 shared
// unsigned long long.
template <class KeyOf>
__device__ RadixSelection block_select_smallest(unsigned* hist, unsigned long long* st, int64_t m,
                                                unsigned long long want, KeyOf key_of) {
  const int t = static_cast<int>(threadIdx.x), T = static_cast<int>(blockDim.x);
  unsigned long long prefix = 0, kk = want;
  int shift = 56;
  for (;;) {
    for (int i = t; i < 256; i += T) hist[i] = 0u;
    __syncthreads();  // zeroed before anyone counts (and thread 0's last scan is over)
    const unsigned long long high = shift == 56 ? 0ull : ~0ull << (shift + 8);
    for (int64_t j = t; j < m; j += T) {
      unsigned long long key;
      if (!key_of(j, key)) continue;
      if ((key & high) == prefix) atomicAdd(&hist[(key >> shift) & 255u], 1u);
    }
    __syncthreads();  // the histogram is complete
    if (t == 0) {
      unsigned long long below = 0;
      int d = 0;
      for (; d < 255; ++d) {
        if (below + hist[d] >= kk) break;
        below += hist[d];
      }
      st[0] = prefix | (static_cast<unsigned long long>(d) << shift);
      st[1] = kk - below;
      st[2] = hist[d];
    }
    __syncthreads();  // st is published; it is rewritten only after the next pass's barriers
    prefix = st[0];
    kk = st[1];
    if (st[2] == kk || shift == 0) break;  // uniform: every thread read the same st
    shift -= 8;
  }
  return RadixSelection{prefix, shift};
}

}  // namespace lf::LF_KERNEL_NS
