// Emulated twin of ops/rbm_gibbs_cuda.cu: the same kernel source compiled by the host compiler.
#include "emu/rbm_gibbs_cuda_emu.h"

#include <algorithm>
#include <vector>

#include "emu/cuda_emu.h"  // must come before the kernel: it defines the CUDA keywords

#include "ops/rbm_gibbs_cuda.cuh"

namespace lf {

namespace {

struct EmuLaunch {
  const emu::Schedule& schedule;
  template <class Kernel, class... Args>
  void operator()(emu::dim3 grid, emu::dim3 block, Kernel kernel, Args... args) const {
    emu::launch(schedule, grid, block, kernel, args...);
  }
};

}  // namespace

void sigmoid_bernoulli_cuda_emulated(float* p, float* s, const float* z, int64_t n, uint64_t seed,
                                     uint64_t stream_id, uint64_t offset, int config,
                                     const emu::Schedule& schedule) {
  emu::rbm_sigmoid_bernoulli_cuda_run(p, s, z, n, seed, stream_id, offset, config,
                                      EmuLaunch{schedule});
}

void bernoulli_cuda_emulated(float* s, int32_t* invalid, const float* p, int64_t n, uint64_t seed,
                             uint64_t stream_id, uint64_t offset, int config,
                             const emu::Schedule& schedule) {
  emu::rbm_bernoulli_cuda_check(s, p, n, config);
  if (invalid != nullptr) *invalid = 0;
  if (n == 0) return;
  // Like the device entry: the kernel runs in place (s == p) on a copy of p, copied out unless
  // it must throw.
  std::vector<float> out(p, p + n);
  int32_t flag = 0;
  emu::rbm_bernoulli_cuda_run(out.data(), &flag, out.data(), n, seed, stream_id, offset, config,
                              EmuLaunch{schedule});
  if (invalid == nullptr) {
    if (flag != 0) emu::rbm_bernoulli_throw_invalid(p, n);  // s is left untouched
  } else {
    *invalid = flag;
  }
  std::copy(out.begin(), out.end(), s);
}

void rbm_free_energy_cuda_emulated(float* F, const float* V, const float* b_v, const float* Z,
                                   int64_t rows, int64_t n_visible, int64_t n_hidden, int config,
                                   const emu::Schedule& schedule) {
  emu::rbm_free_energy_cuda_run(F, V, b_v, Z, rows, n_visible, n_hidden, config,
                                EmuLaunch{schedule});
}

}  // namespace lf
