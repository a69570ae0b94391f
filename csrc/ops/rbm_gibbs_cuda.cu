// CUDA launchers of the RBM kernels (fused sigmoid + Bernoulli, Bernoulli with a device error
// flag, free energy), plus their host-array entries (contracts in ops/rbm_gibbs.h). The kernels,
// the checks and the dispatch live in ops/rbm_gibbs_cuda.cuh, shared with the CPU emulator
// (emu/rbm_gibbs_cuda_emu.cpp). CMakeLists.txt compiles this file with -fmad=false, so each
// free-energy term v_j * b_j is rounded as on the CPU before it is added (only the order of the
// double additions and libdevice's exp / log1p differ).
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/check.h"
#include "core/cuda_utils.cuh"
#include "ops/rbm_gibbs.h"
#include "ops/rbm_gibbs_cuda.cuh"

namespace lf {

namespace {

using cuda::StreamLaunch;

cuda::DeviceBuffer upload_n(const float* host, int64_t n) {
  cuda::DeviceBuffer dev(static_cast<size_t>(n));
  if (n > 0) {
    cuda::cuda_check(
        cudaMemcpy(dev.get(), host, static_cast<size_t>(n) * sizeof(float), cudaMemcpyHostToDevice),
        "cudaMemcpy (host to device)");
  }
  return dev;
}

void download_n(float* host, const cuda::DeviceBuffer& dev, int64_t n) {
  if (n > 0) {
    cuda::cuda_check(
        cudaMemcpy(host, dev.get(), static_cast<size_t>(n) * sizeof(float), cudaMemcpyDeviceToHost),
        "cudaMemcpy (device to host)");
  }
}

void synchronize(const char* what) { cuda::cuda_check(cudaStreamSynchronize(nullptr), what); }

}  // namespace

void sigmoid_bernoulli_cuda(float* p, float* s, const float* z, int64_t n, uint64_t seed,
                            uint64_t stream_id, uint64_t offset, void* stream) {
  StreamLaunch l{static_cast<cudaStream_t>(stream)};
  gpu::rbm_sigmoid_bernoulli_cuda_run(p, s, z, n, seed, stream_id, offset, 0, l);
  l.check("sigmoid_bernoulli_cuda");
}

void bernoulli_cuda(float* s, int32_t* invalid, const float* p, int64_t n, uint64_t seed,
                    uint64_t stream_id, uint64_t offset, void* stream) {
  StreamLaunch l{static_cast<cudaStream_t>(stream)};
  gpu::rbm_bernoulli_cuda_run(s, invalid, p, n, seed, stream_id, offset, 0, l);
  l.check("bernoulli_cuda");
}

void rbm_free_energy_cuda(float* F, const float* V, const float* b_v, const float* Z, int64_t rows,
                          int64_t n_visible, int64_t n_hidden, void* stream) {
  StreamLaunch l{static_cast<cudaStream_t>(stream)};
  gpu::rbm_free_energy_cuda_run(F, V, b_v, Z, rows, n_visible, n_hidden, 0, l);
  l.check("rbm_free_energy_cuda");
}

void sigmoid_bernoulli_cuda_from_host(float* p, float* s, const float* z, int64_t n, uint64_t seed,
                                      uint64_t stream_id, uint64_t offset, int config) {
  gpu::rbm_sigmoid_bernoulli_cuda_check(p, s, z, n, config);
  if (n == 0) return;
  cuda::DeviceBuffer d_z = upload_n(z, n), d_s(static_cast<size_t>(n));
  StreamLaunch l{nullptr};
  // p is computed in place over the uploaded z (the in-place form of the contract).
  gpu::rbm_sigmoid_bernoulli_cuda_run(d_z.get(), d_s.get(), d_z.get(), n, seed, stream_id, offset,
                                      config, l);
  l.check("sigmoid_bernoulli_cuda_from_host");
  synchronize("sigmoid_bernoulli kernel execution");
  download_n(p, d_z, n);
  download_n(s, d_s, n);
}

void bernoulli_cuda_from_host(float* s, int32_t* invalid, const float* p, int64_t n, uint64_t seed,
                              uint64_t stream_id, uint64_t offset, int config) {
  gpu::rbm_bernoulli_cuda_check(s, p, n, config);
  if (invalid != nullptr) *invalid = 0;
  if (n == 0) return;
  cuda::DeviceBuffer d_s = upload_n(p, n);  // the kernel runs in place (s == p)
  cuda::DeviceBuffer d_flag(1);             // one int32 in a float-sized slot
  static_assert(sizeof(int32_t) == sizeof(float), "the flag shares the float device buffers");
  int32_t* flag = reinterpret_cast<int32_t*>(d_flag.get());
  cuda::cuda_check(cudaMemset(flag, 0, sizeof(int32_t)), "cudaMemset");
  StreamLaunch l{nullptr};
  gpu::rbm_bernoulli_cuda_run(d_s.get(), flag, d_s.get(), n, seed, stream_id, offset, config, l);
  l.check("bernoulli_cuda_from_host");
  synchronize("bernoulli kernel execution");
  int32_t h_flag = 0;
  cuda::cuda_check(cudaMemcpy(&h_flag, flag, sizeof(int32_t), cudaMemcpyDeviceToHost),
                   "cudaMemcpy (device to host)");
  if (invalid == nullptr) {
    if (h_flag != 0) gpu::rbm_bernoulli_throw_invalid(p, n);  // s is left untouched
  } else {
    *invalid = h_flag;
  }
  download_n(s, d_s, n);
}

void rbm_free_energy_cuda_from_host(float* F, const float* V, const float* b_v, const float* Z,
                                    int64_t rows, int64_t n_visible, int64_t n_hidden, int config) {
  gpu::rbm_free_energy_cuda_check(F, V, b_v, Z, rows, n_visible, n_hidden, config);
  if (rows == 0) return;
  cuda::DeviceBuffer d_v = upload_n(V, rows * n_visible), d_b = upload_n(b_v, n_visible);
  cuda::DeviceBuffer d_z = upload_n(Z, rows * n_hidden), d_f(static_cast<size_t>(rows));
  StreamLaunch l{nullptr};
  gpu::rbm_free_energy_cuda_run(d_f.get(), d_v.get(), d_b.get(), d_z.get(), rows, n_visible,
                                n_hidden, config, l);
  l.check("rbm_free_energy_cuda_from_host");
  synchronize("rbm_free_energy kernel execution");
  download_n(F, d_f, rows);
}

}  // namespace lf
