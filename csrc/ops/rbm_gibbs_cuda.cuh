// Device side of the CUDA RBM kernels (contracts in ops/rbm_gibbs.h): the fused sigmoid +
// Bernoulli Gibbs step, Bernoulli draws with a device error flag, and the free energy, plus the
// launch geometry, the argument checks and the dispatch shared by the launcher
// (ops/rbm_gibbs_cuda.cu, lf::gpu) and the emulator (emu/rbm_gibbs_cuda_emu.cpp, lf::emu).
// Compiled twice, so it uses only the emulated subset of emu/cuda_emu.h: expf, exp / log1p /
// fabs in double (<math.h>), IEEE `/`, atomicExch on int, LF_SHARED + __syncthreads().
//
//   sigmoid_bernoulli, bernoulli: philox_elementwise_kernel of ops/philox_cuda.cuh (one thread
//     per Philox block of 4 elements, grid-stride, its geometry) with the per-element actions
//     RbmSigmoidBernoulli and RbmBernoulli below: each thread computes its 4 draws with one
//     philox4x32_10 call and handles the (up to 4) elements they belong to; every element is read
//     and written by one thread only, so in-place calls (p == z, s == p) are safe. An invalid
//     probability writes s[i] = NaN and sets *invalid = 1 with atomicExch (the same value from
//     every thread that sees one; never a float atomic).
//   free energy: one block of T threads per row (grid-stride over rows). Thread t adds, in
//     double, columns t, t + T, ... of v * b_v and of softplus(z); the block then combines the
//     per-thread sums in a fixed binary tree (red[t] += red[t + s], s = T/2 .. 1, a barrier per
//     level), so the result does not depend on how threads are scheduled.
#pragma once

#include <math.h>

#include <cstdint>

#include "core/check.h"
#include "core/cuda_subset.h"   // LF_KERNEL_NS, LF_SHARED, LF_UNROLL
#include "ops/gemm_cuda.cuh"    // gemm_activate: the device sigmoid
#include "ops/philox_cuda.cuh"  // the draws' thread mapping and geometry
#include "ops/rbm_gibbs.h"

namespace lf::LF_KERNEL_NS {

static_assert(::lf::kRbmGibbsCudaConfigs == ::lf::kPhiloxCudaConfigs,
              "the draw kernels use the Philox geometry's configurations");

// ---- host-side checks, shared by the launcher and the emulator

inline void rbm_cuda_config_check(int config) {
  LF_CHECK(config >= 0 && config < ::lf::kRbmGibbsCudaConfigs,
           "rbm_gibbs_cuda: config must be in [0, ", ::lf::kRbmGibbsCudaConfigs, "), got ", config);
}

inline void rbm_sigmoid_bernoulli_cuda_check(const float* p, const float* s, const float* z,
                                             int64_t n, int config) {
  LF_CHECK(n >= 0, "sigmoid_bernoulli: n must be >= 0, got ", n);
  rbm_cuda_config_check(config);
  LF_CHECK(n == 0 || (p != nullptr && s != nullptr && z != nullptr),
           "sigmoid_bernoulli_cuda: null pointer");
}

inline void rbm_bernoulli_cuda_check(const float* s, const float* p, int64_t n, int config) {
  LF_CHECK(n >= 0, "bernoulli: n must be >= 0, got ", n);
  rbm_cuda_config_check(config);
  LF_CHECK(n == 0 || (s != nullptr && p != nullptr), "bernoulli_cuda: null pointer");
}

inline void rbm_free_energy_cuda_check(const float* F, const float* V, const float* b_v,
                                       const float* Z, int64_t rows, int64_t n_visible,
                                       int64_t n_hidden, int config) {
  LF_CHECK(rows >= 0 && n_visible >= 0 && n_hidden >= 0, "rbm_free_energy: negative shape (", rows,
           ", ", n_visible, ", ", n_hidden, ")");
  rbm_cuda_config_check(config);
  if (rows == 0) return;
  LF_CHECK(F != nullptr && (n_visible == 0 || (V != nullptr && b_v != nullptr)) &&
               (n_hidden == 0 || Z != nullptr),
           "rbm_free_energy_cuda: null pointer");
}

// After a bernoulli launch whose device flag came back set: throws the CPU kernel's message for
// the first invalid p[i] of the HOST copy of p (bernoulli_cpu's check, done after the fact).
inline void rbm_bernoulli_throw_invalid(const float* p, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    LF_CHECK(p[i] >= 0.0f && p[i] <= 1.0f, "bernoulli: probabilities must lie in [0, 1], got p[", i,
             "] = ", p[i]);
  }
  LF_CHECK(false, "bernoulli: the device reported an invalid probability");
}

// ---- kernels

// Free energy: config 0 is 256 threads and up to 2^20 blocks, config 1 is 32 threads (a power of
// two, for the tree) and at most 3 blocks, so blocks take several rows.
struct RbmLaunch {
  dim3 grid, block;
};

inline RbmLaunch rbm_free_energy_geometry(int64_t rows, int config) {
  rbm_cuda_config_check(config);
  const int64_t threads = config == 0 ? 256 : 32;
  const int64_t cap = config == 0 ? int64_t{1} << 20 : 3;
  int64_t blocks = rows < cap ? rows : cap;
  if (blocks < 1) blocks = 1;
  return {dim3(static_cast<unsigned>(blocks)), dim3(static_cast<unsigned>(threads))};
}

// p = sigmoid(z) (gemm_activate, the device formula), s = (draw < p) ? 1 : 0. p may equal z:
// z[i] is read before p[i] is written, by the same thread.
struct RbmSigmoidBernoulli {
  float* p;
  float* s;
  const float* z;
  __device__ __forceinline__ void operator()(int64_t i, float draw) const {
    const float pv = gemm_activate(z[i], 1);
    p[i] = pv;
    s[i] = draw < pv ? 1.0f : 0.0f;
  }
};

// s = (draw < p) ? 1 : 0; NaN and a set *invalid where p is NaN or outside [0, 1]. s may equal p.
struct RbmBernoulli {
  float* s;
  int32_t* invalid;
  const float* p;
  __device__ __forceinline__ void operator()(int64_t i, float draw) const {
    const float pv = p[i];
    if (pv >= 0.0f && pv <= 1.0f) {  // false for NaN
      s[i] = draw < pv ? 1.0f : 0.0f;
    } else {
      s[i] = NAN;
      if (invalid != nullptr) atomicExch(invalid, 1);
    }
  }
};

// F[r] = -(v . b_v) - sum_j softplus(z_j), per-thread double sums combined in a fixed tree.
template <int T>
__global__ void rbm_free_energy_kernel(float* F, const float* __restrict__ V,
                                       const float* __restrict__ b_v, const float* __restrict__ Z,
                                       int64_t rows, int64_t n_visible, int64_t n_hidden) {
  LF_SHARED(double, red_vb, [T]);
  LF_SHARED(double, red_sp, [T]);
  const int t = static_cast<int>(threadIdx.x);
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* v = V + r * n_visible;
    const float* z = Z + r * n_hidden;
    double vb = 0.0, sp = 0.0;
    for (int64_t j = t; j < n_visible; j += T) vb += static_cast<double>(v[j]) * b_v[j];
    for (int64_t j = t; j < n_hidden; j += T) {
      const double x = z[j];
      // max(x, 0) + log1p(exp(-|x|)): NaN stays NaN through the second term, +-inf as the CPU.
      sp += (x > 0.0 ? x : 0.0) + log1p(exp(-fabs(x)));
    }
    red_vb[t] = vb;
    red_sp[t] = sp;
    __syncthreads();
    for (int h = T / 2; h > 0; h >>= 1) {
      if (t < h) {
        red_vb[t] += red_vb[t + h];
        red_sp[t] += red_sp[t + h];
      }
      __syncthreads();
    }
    // Only thread 0 reads slot 0, and only thread 0 writes it in the next row: no barrier needed.
    if (t == 0) F[r] = static_cast<float>(-red_vb[0] - red_sp[0]);
  }
}

// ---- dispatch: launch(grid, block, kernel, args...) is a real <<<>>> launch in the launcher and
// emu::launch under a schedule in the emulator. Each checks its arguments first; an empty problem
// launches nothing (an empty grid is an invalid launch).

template <class Launch>
void rbm_sigmoid_bernoulli_cuda_run(float* p, float* s, const float* z, int64_t n, uint64_t seed,
                                    uint64_t stream_id, uint64_t offset, int config,
                                    Launch&& launch) {
  rbm_sigmoid_bernoulli_cuda_check(p, s, z, n, config);
  if (n == 0) return;
  const PhiloxLaunch g = philox_cuda_geometry(philox_cuda_blocks(n, offset), config);
  launch(g.grid, g.block, &philox_elementwise_kernel<RbmSigmoidBernoulli>,
         RbmSigmoidBernoulli{p, s, z}, n, seed, stream_id, offset);
}

template <class Launch>
void rbm_bernoulli_cuda_run(float* s, int32_t* invalid, const float* p, int64_t n, uint64_t seed,
                            uint64_t stream_id, uint64_t offset, int config, Launch&& launch) {
  rbm_bernoulli_cuda_check(s, p, n, config);
  if (n == 0) return;
  const PhiloxLaunch g = philox_cuda_geometry(philox_cuda_blocks(n, offset), config);
  launch(g.grid, g.block, &philox_elementwise_kernel<RbmBernoulli>, RbmBernoulli{s, invalid, p}, n,
         seed, stream_id, offset);
}

template <class Launch>
void rbm_free_energy_cuda_run(float* F, const float* V, const float* b_v, const float* Z,
                              int64_t rows, int64_t n_visible, int64_t n_hidden, int config,
                              Launch&& launch) {
  rbm_free_energy_cuda_check(F, V, b_v, Z, rows, n_visible, n_hidden, config);
  if (rows == 0) return;
  const RbmLaunch g = rbm_free_energy_geometry(rows, config);
  if (config == 0) {
    launch(g.grid, g.block, &rbm_free_energy_kernel<256>, F, V, b_v, Z, rows, n_visible, n_hidden);
  } else {
    launch(g.grid, g.block, &rbm_free_energy_kernel<32>, F, V, b_v, Z, rows, n_visible, n_hidden);
  }
}

}  // namespace lf::LF_KERNEL_NS
