// latentforge._emu: the CUDA emulator (emu/cuda_emu.h) and the kernels it runs, for tests only.
// Built by CMake option LATENTFORGE_EMU (default ON, OFF for release wheels) as its own extension
// module next to _C, so the shipped _C never contains the emulator. Every launch takes a
// `schedule` (emu/schedule.h: "concurrent", "forward", "reverse", "shuffled") and a `seed` (used
// by "shuffled"). Arguments are validated as in _C (bindings/array_check.h), and the GIL is
// released while a kernel runs.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "bindings/array_check.h"
#include "bindings/batch_norm_args.h"
#include "bindings/elementwise_args.h"
#include "bindings/local_contrast_norm2d_args.h"
#include "bindings/locally_connected2d_args.h"
#include "bindings/optim_args.h"
#include "bindings/pool2d_args.h"
#include "bindings/tsne_bh_args.h"
#include "bindings/tsne_grouped_args.h"
#include "emu/batch_norm_cuda_emu.h"
#include "emu/broken_kernels_emu.h"
#include "emu/conv2d_cuda_emu.h"
#include "emu/elementwise_cuda_emu.h"
#include "emu/gemm_cuda_emu.h"
#include "emu/knn_cuda_emu.h"
#include "emu/local_contrast_norm2d_cuda_emu.h"
#include "emu/locally_connected2d_cuda_emu.h"
#include "emu/optim_cuda_emu.h"
#include "emu/philox_cuda_emu.h"
#include "emu/pool2d_cuda_emu.h"
#include "emu/rbm_gibbs_cuda_emu.h"
#include "emu/schedule.h"
#include "emu/topk_cuda_emu.h"
#include "emu/tsne_affinity_cuda_emu.h"
#include "emu/tsne_bh_cuda_emu.h"
#include "emu/tsne_grouped_cuda_emu.h"
#include "emu/tsne_symmetrize_cuda_emu.h"
#include "emu/warp_atomic_kernels_emu.h"
#include "emu/word2vec_cuda_emu.h"
#include "ops/conv2d.h"
#include "ops/gemm.h"
#include "ops/knn.h"
#include "ops/local_contrast_norm2d.h"
#include "ops/topk.h"
#include "ops/tsne_affinity.h"
#include "ops/tsne_bh.h"
#include "ops/tsne_symmetrize.h"
#include "ops/word2vec.h"

namespace py = pybind11;

namespace {

using lf::emu_tests::Dim3;

// The test kernels allocate one element per thread of the grid: keep that small.
constexpr uint64_t kMaxGridThreads = uint64_t{1} << 24;

struct Grid {
  Dim3 grid, block;
  uint64_t blocks, threads, n;  // blocks in the grid, threads per block, threads in the grid
};

uint64_t saturating_product(Dim3 d) {
  uint64_t p = 1;
  for (const unsigned v : d) p = v != 0 && p > UINT64_MAX / v ? UINT64_MAX : p * v;
  return p;
}

Grid grid_arg(Dim3 grid, Dim3 block) {
  const uint64_t blocks = saturating_product(grid), threads = saturating_product(block);
  // Invalid sizes (0, or over the CUDA limits) are left to the launch, which reports them; only
  // the host arrays are bounded here.
  if (threads > kMaxGridThreads || (threads > 0 && blocks > kMaxGridThreads / threads)) {
    throw py::value_error("the test kernels are limited to " + std::to_string(kMaxGridThreads) +
                          " threads per grid");
  }
  return Grid{grid, block, blocks, threads, blocks * threads};
}

py::array_t<float> float_input(const py::object& obj, const char* name, uint64_t size) {
  const py::array a = lf::bind::array_arg<float>(obj, name, 1);
  if (static_cast<uint64_t>(a.size()) != size) {
    throw py::value_error(std::string(name) + " must have " + std::to_string(size) +
                          " elements, got " + std::to_string(a.size()));
  }
  return py::reinterpret_borrow<py::array_t<float>>(a);
}

py::array_t<int32_t> int_input(const py::object& obj, const char* name, uint64_t size) {
  const py::array a = lf::bind::array_arg<int32_t>(obj, name, 1);
  if (static_cast<uint64_t>(a.size()) != size) {
    throw py::value_error(std::string(name) + " must have " + std::to_string(size) +
                          " elements, got " + std::to_string(a.size()));
  }
  return py::reinterpret_borrow<py::array_t<int32_t>>(a);
}

// A fresh array of `size` copies of `value` (for outputs: a value the kernel would not write).
template <class T>
py::array_t<T> filled(uint64_t size, T value) {
  py::array_t<T> a(static_cast<py::ssize_t>(size));
  std::fill_n(a.mutable_data(), size, value);
  return a;
}

// Outputs start at -1e30, neither a value the kernels compute nor the poison (NaN): an element
// no thread wrote fails a test instead of passing for poison read by the kernel.
py::array_t<float> fresh_output(uint64_t size) {
  py::array_t<float> out(static_cast<py::ssize_t>(size));
  std::fill_n(out.mutable_data(), size, -1e30f);
  return out;
}

py::array gemm_cuda(const py::array& A, const py::array& B, const py::object& C_obj, bool trans_a,
                    bool trans_b, float alpha, float beta, const py::object& bias_obj, int act,
                    int config, const std::string& schedule, uint64_t seed) {
  const int configs = lf::gemm_cuda_emulated_num_configs();
  if (config < 0 || config >= configs) {
    throw py::value_error("config must be in [0, " + std::to_string(configs) + "), got " +
                          std::to_string(config));
  }
  const lf::emu::Schedule s = lf::emu::parse_schedule(schedule, seed);
  const auto g = lf::bind::gemm_operands(A, B, C_obj, trans_a, trans_b, beta, bias_obj, act);
  {
    py::gil_scoped_release release;
    lf::gemm_forward_cuda_emulated(g.c.data, g.c.ld, g.a.data, g.a.ld, trans_a, g.b.data, g.b.ld,
                                   trans_b, g.M, g.N, g.K, alpha, beta, g.bias, g.act, config, s);
  }
  return g.C;
}

int lcn_config(int config) {
  if (config < 0 || config >= lf::kLcnCudaConfigs) {
    throw py::value_error("config must be in [0, " + std::to_string(lf::kLcnCudaConfigs) +
                          "), got " + std::to_string(config));
  }
  return config;
}

py::tuple lcn_forward_cuda(const py::object& x_obj, const py::object& size, double sigma,
                           double eps, int config, const std::string& schedule, uint64_t seed) {
  config = lcn_config(config);
  const lf::emu::Schedule s = lf::emu::parse_schedule(schedule, seed);
  const auto sc = lf::bind::lcn_scalars(size, sigma, eps);
  const py::array x = lf::bind::lcn_input(x_obj);
  auto o = lf::bind::lcn_outputs(x);
  float *yp = o.y.mutable_data(), *mp = o.mean.mutable_data(), *sp = o.sigma.mutable_data(),
        *cp = o.c.mutable_data();
  const float* xp = lf::bind::cptr<float>(x);
  {
    py::gil_scoped_release release;
    lf::local_contrast_norm2d_forward_cuda_emulated(yp, mp, sp, cp, xp, x.shape(0), x.shape(1),
                                                    x.shape(2), x.shape(3), sc.size, sc.sigma,
                                                    sc.eps, config, s);
  }
  return py::make_tuple(std::move(o.y), std::move(o.mean), std::move(o.sigma), std::move(o.c));
}

py::array lcn_backward_cuda(const py::object& dy, const py::object& x, const py::object& mean,
                            const py::object& sigma_map, const py::object& c,
                            const py::object& size, double sigma, double eps, int config,
                            const std::string& schedule, uint64_t seed) {
  config = lcn_config(config);
  const lf::emu::Schedule s = lf::emu::parse_schedule(schedule, seed);
  const auto sc = lf::bind::lcn_scalars(size, sigma, eps);
  const auto a = lf::bind::lcn_backward_args(dy, x, mean, sigma_map, c);
  auto dx = lf::bind::empty_like<float>(a.x);
  float* dxp = dx.mutable_data();
  using lf::bind::cptr;
  const float *dyp = cptr<float>(a.dy), *xp = cptr<float>(a.x), *mp = cptr<float>(a.mean),
              *sp = cptr<float>(a.sigma), *cp = cptr<float>(a.c);
  {
    py::gil_scoped_release release;
    lf::local_contrast_norm2d_backward_cuda_emulated(dxp, dyp, xp, mp, sp, cp, a.N, a.C, a.H, a.W,
                                                     sc.size, sc.sigma, sc.eps, config, s);
  }
  return dx;
}

int batch_norm_config(int config) {
  const int configs = lf::batch_norm_cuda_emulated_num_configs();
  if (config < 0 || config >= configs) {
    throw py::value_error("config must be in [0, " + std::to_string(configs) + "), got " +
                          std::to_string(config));
  }
  return config;
}

py::tuple batch_norm_forward_train_cuda(const py::object& x, const py::object& gamma,
                                        const py::object& beta, const py::object& running_mean,
                                        const py::object& running_var, double momentum, double eps,
                                        int config, const std::string& schedule, uint64_t seed) {
  config = batch_norm_config(config);
  const lf::emu::Schedule s = lf::emu::parse_schedule(schedule, seed);
  const auto a =
      lf::bind::batch_norm_train_args(x, gamma, beta, running_mean, running_var, momentum, eps);
  auto y = lf::bind::empty_like<float>(a.x.a);
  py::array_t<float> mean(static_cast<py::ssize_t>(a.x.C)), invstd(static_cast<py::ssize_t>(a.x.C));
  float *yp = y.mutable_data(), *mp = mean.mutable_data(), *ip = invstd.mutable_data();
  const float* xp = lf::bind::cptr<float>(a.x.a);
  {
    py::gil_scoped_release release;
    lf::batch_norm_forward_train_cuda_emulated(yp, mp, ip, a.running_mean, a.running_var, xp,
                                               a.gamma, a.beta, a.x.N, a.x.C, a.x.HW, a.momentum,
                                               a.eps, config, s);
  }
  return py::make_tuple(std::move(y), std::move(mean), std::move(invstd));
}

py::tuple batch_norm_backward_cuda(const py::object& dy, const py::object& x,
                                   const py::object& mean, const py::object& invstd,
                                   const py::object& gamma, bool training, int config,
                                   const std::string& schedule, uint64_t seed) {
  config = batch_norm_config(config);
  const lf::emu::Schedule s = lf::emu::parse_schedule(schedule, seed);
  const auto a = lf::bind::batch_norm_backward_args(dy, x, mean, invstd, gamma, training);
  auto dx = lf::bind::empty_like<float>(a.x.a);
  py::array_t<float> dgamma(static_cast<py::ssize_t>(a.x.C)),
      dbeta(static_cast<py::ssize_t>(a.x.C));
  float *dxp = dx.mutable_data(), *gp = dgamma.mutable_data(), *bp = dbeta.mutable_data();
  const float* dyp = lf::bind::cptr<float>(a.dy);
  const float* xp = lf::bind::cptr<float>(a.x.a);
  {
    py::gil_scoped_release release;
    lf::batch_norm_backward_cuda_emulated(dxp, gp, bp, dyp, xp, a.mean, a.invstd, a.gamma, a.x.N,
                                          a.x.C, a.x.HW, training, config, s);
  }
  return py::make_tuple(std::move(dx), std::move(dgamma), std::move(dbeta));
}

py::array batch_norm_forward_eval_cuda(const py::object& x_obj, const py::object& gamma,
                                       const py::object& beta, const py::object& mean,
                                       const py::object& var, double eps, int config,
                                       const std::string& schedule, uint64_t seed) {
  config = batch_norm_config(config);
  const lf::emu::Schedule s = lf::emu::parse_schedule(schedule, seed);
  const auto x = lf::bind::batch_norm_input(x_obj, "x");
  std::vector<py::array> keep;
  const float* g = lf::bind::batch_norm_vector(gamma, "gamma", x.C, keep, true);
  const float* b = lf::bind::batch_norm_vector(beta, "beta", x.C, keep, true);
  const float* m = lf::bind::batch_norm_vector(mean, "mean", x.C, keep, false);
  const float* v = lf::bind::batch_norm_vector(var, "var", x.C, keep, false);
  eps = lf::bind::batch_norm_eps(eps);
  auto y = lf::bind::empty_like<float>(x.a);
  float* yp = y.mutable_data();
  const float* xp = lf::bind::cptr<float>(x.a);
  {
    py::gil_scoped_release release;
    lf::batch_norm_forward_eval_cuda_emulated(yp, xp, g, b, m, v, x.N, x.C, x.HW, eps, config, s);
  }
  return y;
}

py::tuple pool2d_cuda_forward(const py::object& x_obj, const std::string& mode_name,
                              const py::object& kernel_size, const py::object& stride,
                              const py::object& padding, int config, const std::string& schedule,
                              uint64_t seed) {
  const lf::PoolMode mode = lf::bind::pool_mode(mode_name);
  if (config < 0 || config >= lf::kPool2dCudaConfigs) {
    throw py::value_error("config must be in [0, " + std::to_string(lf::kPool2dCudaConfigs) +
                          "), got " + std::to_string(config));
  }
  const lf::emu::Schedule s = lf::emu::parse_schedule(schedule, seed);
  const py::array x = lf::bind::pool_input(x_obj);
  const lf::Pool2dShape g = lf::bind::pool_geometry(x.shape(0), x.shape(1), x.shape(2), x.shape(3),
                                                    kernel_size, stride, padding);
  // Outputs start at -1e30 / -7 (see fresh_output): an element no thread wrote fails a test.
  py::array_t<float> y(lf::bind::pool_out_shape(g));
  std::fill_n(y.mutable_data(), y.size(), -1e30f);
  py::object argmax = py::none();
  int32_t* ap = nullptr;
  if (mode == lf::PoolMode::max) {
    py::array_t<int32_t> a(lf::bind::pool_out_shape(g));
    std::fill_n(a.mutable_data(), a.size(), int32_t{-7});
    ap = a.mutable_data();
    argmax = std::move(a);
  }
  float* yp = y.mutable_data();
  const float* xp = lf::bind::cptr<float>(x);
  {
    py::gil_scoped_release release;
    lf::pool2d_forward_cuda_emulated(yp, ap, xp, g, mode, config, s);
  }
  return py::make_tuple(std::move(y), std::move(argmax));
}

py::array pool2d_cuda_backward(const py::object& dy, const py::object& argmax, const py::object& x,
                               const py::object& y, const py::object& input_hw,
                               const std::string& mode_name, const py::object& kernel_size,
                               const py::object& stride, const py::object& padding, int config,
                               const std::string& schedule, uint64_t seed) {
  const lf::PoolMode mode = lf::bind::pool_mode(mode_name);
  if (config < 0 || config >= lf::kPool2dCudaConfigs) {
    throw py::value_error("config must be in [0, " + std::to_string(lf::kPool2dCudaConfigs) +
                          "), got " + std::to_string(config));
  }
  const lf::emu::Schedule s = lf::emu::parse_schedule(schedule, seed);
  const auto a =
      lf::bind::pool_backward_args(mode, dy, argmax, x, y, input_hw, kernel_size, stride, padding);
  if (mode == lf::PoolMode::max) lf::bind::pool_check_argmax(a.argmax, a.s);
  py::array_t<float> dx(lf::bind::pool_in_shape(a.s));
  std::fill_n(dx.mutable_data(), dx.size(), -1e30f);
  float* dxp = dx.mutable_data();
  const float* dyp = lf::bind::cptr<float>(a.dy);
  const int32_t* ap = mode == lf::PoolMode::max ? lf::bind::cptr<int32_t>(a.argmax) : nullptr;
  const float* xp = mode == lf::PoolMode::l2 ? lf::bind::cptr<float>(a.x) : nullptr;
  const float* yp = mode == lf::PoolMode::l2 ? lf::bind::cptr<float>(a.y) : nullptr;
  {
    py::gil_scoped_release release;
    lf::pool2d_backward_cuda_emulated(dxp, dyp, ap, xp, yp, a.s, mode, config, s);
  }
  return dx;
}

using Pair = std::array<int64_t, 2>;

void conv2d_config(int config) {
  const int configs = lf::conv2d_cuda_emulated_num_configs();
  if (config < 0 || config >= configs) {
    throw py::value_error("config must be in [0, " + std::to_string(configs) + "), got " +
                          std::to_string(config));
  }
}

py::array_t<float> conv2d_new(std::initializer_list<int64_t> shape) {
  std::vector<py::ssize_t> dims;
  for (const int64_t d : shape) dims.push_back(static_cast<py::ssize_t>(d));
  py::array_t<float> out(dims);
  std::fill_n(out.mutable_data(), out.size(), -1e30f);  // see fresh_output
  return out;
}

// The emulated conv2d kernels: the checks of _C.conv2d_* (array_check.h, conv2d_check_args).
py::array conv2d_forward_emu(const py::object& x_obj, const py::object& w_obj,
                             const py::object& b_obj, Pair stride, Pair padding, int config,
                             const std::string& schedule, uint64_t seed) {
  conv2d_config(config);
  const lf::emu::Schedule s = lf::emu::parse_schedule(schedule, seed);
  const auto x = lf::bind::array_arg<float>(x_obj, "x", 4);
  const auto w = lf::bind::array_arg<float>(w_obj, "weight", 4);
  if (x.shape(1) != w.shape(1)) throw py::value_error("x and weight channels differ");
  const auto g =
      lf::conv2d_check_args(x.shape(0), x.shape(1), x.shape(2), x.shape(3), w.shape(0), w.shape(2),
                            w.shape(3), stride[0], stride[1], padding[0], padding[1]);
  py::array b;
  const float* bp = nullptr;
  if (!b_obj.is_none()) {
    b = lf::bind::array_arg<float>(b_obj, "bias", 1);
    if (b.shape(0) != w.shape(0)) throw py::value_error("bias must have C_out elements");
    bp = lf::bind::cptr<float>(b);
  }
  auto y = conv2d_new({x.shape(0), w.shape(0), g.OH, g.OW});
  float* yp = y.mutable_data();
  {
    py::gil_scoped_release release;
    lf::conv2d_forward_cuda_emulated(yp, lf::bind::cptr<float>(x), lf::bind::cptr<float>(w), bp,
                                     x.shape(0), x.shape(1), x.shape(2), x.shape(3), w.shape(0),
                                     w.shape(2), w.shape(3), stride[0], stride[1], padding[0],
                                     padding[1], config, s);
  }
  return std::move(y);
}

py::array conv2d_backward_data_emu(const py::object& dy_obj, const py::object& w_obj, Pair hw,
                                   Pair stride, Pair padding, int config,
                                   const std::string& schedule, uint64_t seed) {
  conv2d_config(config);
  const lf::emu::Schedule s = lf::emu::parse_schedule(schedule, seed);
  const auto dy = lf::bind::array_arg<float>(dy_obj, "dy", 4);
  const auto w = lf::bind::array_arg<float>(w_obj, "weight", 4);
  const auto g =
      lf::conv2d_check_args(dy.shape(0), w.shape(1), hw[0], hw[1], w.shape(0), w.shape(2),
                            w.shape(3), stride[0], stride[1], padding[0], padding[1]);
  if (dy.shape(1) != w.shape(0) || dy.shape(2) != g.OH || dy.shape(3) != g.OW) {
    throw py::value_error("dy has the wrong shape");
  }
  auto dx = conv2d_new({dy.shape(0), w.shape(1), hw[0], hw[1]});
  float* dxp = dx.mutable_data();
  {
    py::gil_scoped_release release;
    lf::conv2d_backward_data_cuda_emulated(dxp, lf::bind::cptr<float>(dy), lf::bind::cptr<float>(w),
                                           dy.shape(0), w.shape(1), hw[0], hw[1], w.shape(0),
                                           w.shape(2), w.shape(3), stride[0], stride[1], padding[0],
                                           padding[1], config, s);
  }
  return std::move(dx);
}

py::tuple conv2d_backward_weights_emu(const py::object& dy_obj, const py::object& x_obj, Pair khw,
                                      Pair stride, Pair padding, bool bias, int config,
                                      const std::string& schedule, uint64_t seed) {
  conv2d_config(config);
  const lf::emu::Schedule s = lf::emu::parse_schedule(schedule, seed);
  const auto dy = lf::bind::array_arg<float>(dy_obj, "dy", 4);
  const auto x = lf::bind::array_arg<float>(x_obj, "x", 4);
  const auto g =
      lf::conv2d_check_args(x.shape(0), x.shape(1), x.shape(2), x.shape(3), dy.shape(1), khw[0],
                            khw[1], stride[0], stride[1], padding[0], padding[1]);
  if (dy.shape(0) != x.shape(0) || dy.shape(2) != g.OH || dy.shape(3) != g.OW) {
    throw py::value_error("dy has the wrong shape");
  }
  auto dw = conv2d_new({dy.shape(1), x.shape(1), khw[0], khw[1]});
  auto db = conv2d_new({dy.shape(1)});
  float *dwp = dw.mutable_data(), *dbp = bias ? db.mutable_data() : nullptr;
  {
    py::gil_scoped_release release;
    lf::conv2d_backward_weights_cuda_emulated(
        dwp, dbp, lf::bind::cptr<float>(dy), lf::bind::cptr<float>(x), x.shape(0), x.shape(1),
        x.shape(2), x.shape(3), dy.shape(1), khw[0], khw[1], stride[0], stride[1], padding[0],
        padding[1], config, s);
  }
  return py::make_tuple(std::move(dw), bias ? py::object(std::move(db)) : py::object(py::none()));
}

// ---- locally_connected2d (ops/locally_connected2d_cuda.cuh) ----

void lc2d_config(int config) {
  const int configs = lf::locally_connected2d_cuda_emulated_num_configs();
  if (config < 0 || config >= configs) {
    throw py::value_error("config must be in [0, " + std::to_string(configs) + "), got " +
                          std::to_string(config));
  }
}

// The emulated kernels: the checks of _C.locally_connected2d_*
// (bindings/locally_connected2d_args.h).
py::array lc2d_forward_emu(const py::object& x_obj, const py::object& w_obj,
                           const py::object& b_obj, Pair stride, int config,
                           const std::string& schedule, uint64_t seed) {
  lc2d_config(config);
  const lf::emu::Schedule sch = lf::emu::parse_schedule(schedule, seed);
  const auto x = lf::bind::array_arg<float>(x_obj, "x", 4, lf::bind::kLcX);
  const auto w = lf::bind::array_arg<float>(w_obj, "weight", 6, lf::bind::kLcW);
  const lf::bind::Lc2dShape s = lf::bind::lc2d_forward_shape(x, w, stride);
  py::array keep;
  const float* bp = lf::bind::lc2d_bias_arg(b_obj, s, &keep);
  auto y = conv2d_new({s.N, s.C_out, s.OH, s.OW});
  float* yp = y.mutable_data();
  {
    py::gil_scoped_release release;
    lf::locally_connected2d_forward_cuda_emulated(
        yp, lf::bind::cptr<float>(x), lf::bind::cptr<float>(w), bp, s.N, s.C_in, s.H, s.W, s.C_out,
        s.kh, s.kw, s.sh, s.sw, config, sch);
  }
  return std::move(y);
}

py::array lc2d_backward_data_emu(const py::object& dy_obj, const py::object& w_obj, Pair hw,
                                 Pair stride, int config, const std::string& schedule,
                                 uint64_t seed) {
  lc2d_config(config);
  const lf::emu::Schedule sch = lf::emu::parse_schedule(schedule, seed);
  const auto dy = lf::bind::array_arg<float>(dy_obj, "dy", 4, lf::bind::kLcDy);
  const auto w = lf::bind::array_arg<float>(w_obj, "weight", 6, lf::bind::kLcW);
  const lf::bind::Lc2dShape s = lf::bind::lc2d_backward_data_shape(dy, w, hw, stride);
  auto dx = conv2d_new({s.N, s.C_in, s.H, s.W});
  float* dxp = dx.mutable_data();
  {
    py::gil_scoped_release release;
    lf::locally_connected2d_backward_data_cuda_emulated(
        dxp, lf::bind::cptr<float>(dy), lf::bind::cptr<float>(w), s.N, s.C_in, s.H, s.W, s.C_out,
        s.kh, s.kw, s.sh, s.sw, config, sch);
  }
  return std::move(dx);
}

py::tuple lc2d_backward_weights_emu(const py::object& dy_obj, const py::object& x_obj, Pair khw,
                                    Pair stride, bool bias, int config, const std::string& schedule,
                                    uint64_t seed) {
  lc2d_config(config);
  const lf::emu::Schedule sch = lf::emu::parse_schedule(schedule, seed);
  const auto dy = lf::bind::array_arg<float>(dy_obj, "dy", 4, lf::bind::kLcDy);
  const auto x = lf::bind::array_arg<float>(x_obj, "x", 4, lf::bind::kLcX);
  const lf::bind::Lc2dShape s = lf::bind::lc2d_backward_weights_shape(dy, x, khw, stride);
  std::vector<py::ssize_t> wshape{s.OH, s.OW, s.C_out, s.C_in, s.kh, s.kw};
  py::array_t<float> dw(wshape);
  std::fill_n(dw.mutable_data(), dw.size(), -1e30f);  // see fresh_output
  auto db = conv2d_new({s.C_out, s.OH, s.OW});
  float *dwp = dw.mutable_data(), *dbp = bias ? db.mutable_data() : nullptr;
  {
    py::gil_scoped_release release;
    lf::locally_connected2d_backward_weights_cuda_emulated(
        dwp, dbp, lf::bind::cptr<float>(dy), lf::bind::cptr<float>(x), s.N, s.C_in, s.H, s.W,
        s.C_out, s.kh, s.kw, s.sh, s.sw, config, sch);
  }
  return py::make_tuple(std::move(dw), bias ? py::object(std::move(db)) : py::object(py::none()));
}

// ---- word2vec (ops/word2vec_cuda.cuh) ----

// An optional 1-D array of T with V elements (None -> nullptr).
template <class T>
const T* w2v_vector(const py::object& obj, const char* name, int64_t V) {
  if (obj.is_none()) return nullptr;
  const py::array a = lf::bind::array_arg<T>(obj, name, 1);
  if (a.shape(0) != V) {
    throw py::value_error(std::string(name) + " must have " + std::to_string(V) + " elements");
  }
  return lf::bind::cptr<T>(a);
}

py::array w2v_noise_sample_emu(const py::object& prob_obj, const py::object& alias_obj, int64_t V,
                               int64_t n, uint64_t seed, uint64_t counter,
                               const std::string& schedule, uint64_t schedule_seed) {
  if (V < 1 || V >= (int64_t{1} << 31)) throw py::value_error("V must be in [1, 2**31)");
  if (n < 0) throw py::value_error("n must be >= 0");
  if (prob_obj.is_none() != alias_obj.is_none()) {
    throw py::value_error("prob and alias must both be arrays or both None (log-uniform)");
  }
  const float* prob = w2v_vector<float>(prob_obj, "prob", V);
  const int32_t* alias = w2v_vector<int32_t>(alias_obj, "alias", V);
  if (alias) {
    for (int64_t i = 0; i < V; ++i) {
      if (alias[i] < 0 || alias[i] >= V) throw py::value_error("alias out of range");
    }
  }
  const lf::emu::Schedule s = lf::emu::parse_schedule(schedule, schedule_seed);
  py::array_t<int32_t> out(static_cast<py::ssize_t>(n));
  int32_t* op = out.mutable_data();
  {
    py::gil_scoped_release release;
    lf::noise_sample_cuda_emulated(op, prob, alias, V, n, seed, counter, s);
  }
  return std::move(out);
}

py::tuple w2v_train_emu(const py::object& syn0_obj, const py::object& syn1_obj,
                        const py::object& bias_obj, const py::object& ids_obj,
                        const py::object& ends_obj, const py::object& keep_obj,
                        const py::object& nprob_obj, const py::object& nalias_obj,
                        const py::object& logq_obj, bool sg, const std::string& loss, int negative,
                        int window, float alpha, float alpha_end, uint64_t seed, uint64_t counter,
                        bool remove_accidental_hits, int64_t blocks, const std::string& schedule,
                        uint64_t schedule_seed) {
  const py::array syn0 = lf::bind::array_arg<float>(syn0_obj, "syn0", 2, "(V, D)", true);
  const py::array syn1 = lf::bind::array_arg<float>(syn1_obj, "syn1", 2, "(V, D)", true);
  lf::bind::require_same_shape(syn0, "syn0", syn1, "syn1");
  if (syn0.ptr() == syn1.ptr() || lf::bind::overlaps(syn0, syn1)) {
    throw py::value_error("syn0 and syn1 must not share memory");
  }
  const int64_t V = syn0.shape(0), D = syn0.shape(1);
  const py::array ids = lf::bind::array_arg<int32_t>(ids_obj, "ids", 1);
  const py::array ends = lf::bind::array_arg<int64_t>(ends_obj, "sent_ends", 1);
  if (!bias_obj.is_none()) lf::bind::array_arg<float>(bias_obj, "bias", 1, "(V,)", true);
  float* bias = const_cast<float*>(w2v_vector<float>(bias_obj, "bias", V));
  const float* keep = w2v_vector<float>(keep_obj, "keep_prob", V);
  const float* nprob = w2v_vector<float>(nprob_obj, "noise_prob", V);
  const int32_t* nalias = w2v_vector<int32_t>(nalias_obj, "noise_alias", V);
  if ((nprob == nullptr) != (nalias == nullptr)) {
    throw py::value_error("noise_prob and noise_alias must both be arrays or both None");
  }
  const float* logq = w2v_vector<float>(logq_obj, "noise_logq", V);
  lf::W2vParams p;
  if (loss != "negative" && loss != "nce")
    throw py::value_error("loss must be 'negative' or 'nce'");
  p.loss = loss == "nce" ? lf::W2vLoss::nce : lf::W2vLoss::negative;
  p.sg = sg;
  p.negative = negative;
  p.window = window;
  p.alpha = alpha;
  p.alpha_end = alpha_end;
  p.seed = seed;
  p.counter = counter;
  p.remove_accidental_hits = remove_accidental_hits;
  const lf::emu::Schedule s = lf::emu::parse_schedule(schedule, schedule_seed);
  lf::W2vResult r;
  {
    py::gil_scoped_release release;
    r = lf::word2vec_train_cuda_emulated(lf::bind::mptr<float>(syn0), lf::bind::mptr<float>(syn1),
                                         bias, lf::bind::cptr<int32_t>(ids), ids.shape(0),
                                         lf::bind::cptr<int64_t>(ends), ends.shape(0), keep, nprob,
                                         nalias, logq, V, D, p, blocks, s);
  }
  return py::make_tuple(r.loss_sum, r.words, r.pairs);
}

// ---- t-SNE gradients (ops/tsne_bh_cuda.cuh) ----

// grad starts at -1e30 (see fresh_output): an element no thread wrote fails a test.
py::array_t<float> tsne_grad_output(int64_t n) {
  py::array_t<float> grad({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(2)});
  std::fill_n(grad.mutable_data(), grad.size(), -1e30f);
  return grad;
}

py::tuple tsne_exact_cuda_emu(const py::object& y_obj, const py::object& p_obj, double exaggeration,
                              bool compute_kl, int config, const std::string& schedule,
                              uint64_t seed) {
  const lf::emu::Schedule s = lf::emu::parse_schedule(schedule, seed);
  const auto a = lf::bind::tsne_exact_args(y_obj, p_obj, "tsne_gradient_exact_cuda");
  auto grad = tsne_grad_output(a.n);
  float* gp = grad.mutable_data();
  const float* yp = lf::bind::cptr<float>(a.Y);
  const float* pp = lf::bind::cptr<float>(a.P);
  double kl;
  {
    py::gil_scoped_release release;
    kl =
        lf::tsne_gradient_exact_cuda_emulated(gp, yp, pp, a.n, exaggeration, compute_kl, config, s);
  }
  return py::make_tuple(std::move(grad), kl);
}

py::tuple tsne_bh_cuda_emu(const py::object& y_obj, const py::object& indptr_obj,
                           const py::object& indices_obj, const py::object& pvals_obj, double theta,
                           double exaggeration, bool compute_kl, int config,
                           const std::string& schedule, uint64_t seed) {
  const lf::emu::Schedule s = lf::emu::parse_schedule(schedule, seed);
  const auto a = lf::bind::tsne_csr_args(y_obj, indptr_obj, indices_obj, pvals_obj, theta,
                                         "tsne_gradient_bh_cuda");
  auto grad = tsne_grad_output(a.n);
  float* gp = grad.mutable_data();
  const float* yp = lf::bind::cptr<float>(a.Y);
  const auto* ip = lf::bind::cptr<int64_t>(a.indptr);
  const auto* jp = lf::bind::cptr<int64_t>(a.indices);
  const float* vp = lf::bind::cptr<float>(a.pvals);
  double kl;
  {
    py::gil_scoped_release release;
    kl = lf::tsne_gradient_bh_cuda_emulated(gp, yp, ip, jp, vp, a.n, a.nnz, theta, exaggeration,
                                            compute_kl, config, s);
  }
  return py::make_tuple(std::move(grad), kl);
}

// ---- t-SNE optimiser step (ops/tsne_grouped_cuda.cuh) ----

bool tsne_step_cuda_emu(const py::object& y_obj, const py::object& u_obj, const py::object& g_obj,
                        const py::object& grad_obj, double momentum, double learning_rate,
                        double min_gain, int config, const std::string& schedule, uint64_t seed) {
  const lf::emu::Schedule s = lf::emu::parse_schedule(schedule, seed);
  const auto st =
      lf::bind::tsne_step_state(y_obj, u_obj, g_obj, -1, momentum, learning_rate, min_gain);
  const py::array grad = lf::bind::tsne_step_grad(grad_obj, st.n);
  auto* yp = lf::bind::mptr<double>(st.Y);
  auto* up = lf::bind::mptr<double>(st.update);
  auto* gp = lf::bind::mptr<double>(st.gains);
  const float* dp = lf::bind::cptr<float>(grad);
  py::gil_scoped_release release;
  return lf::tsne_step_cuda_emulated(yp, up, gp, dp, st.n, momentum, learning_rate, min_gain,
                                     config, s);
}

py::tuple tsne_step_bh_cuda_emu(const py::object& y_obj, const py::object& u_obj,
                                const py::object& g_obj, const py::object& indptr_obj,
                                const py::object& indices_obj, const py::object& pvals_obj,
                                double theta, double exaggeration, double momentum,
                                double learning_rate, double min_gain, bool compute_kl, int config,
                                const std::string& schedule, uint64_t seed) {
  const lf::emu::Schedule s = lf::emu::parse_schedule(schedule, seed);
  const auto st =
      lf::bind::tsne_step_state(y_obj, u_obj, g_obj, -1, momentum, learning_rate, min_gain);
  const auto c = lf::bind::tsne_step_csr(indptr_obj, indices_obj, pvals_obj, st.n, theta);
  auto* yp = lf::bind::mptr<double>(st.Y);
  auto* up = lf::bind::mptr<double>(st.update);
  auto* gp = lf::bind::mptr<double>(st.gains);
  lf::TsneBarnesHut::StepResult r{};
  {
    py::gil_scoped_release release;
    r = lf::tsne_step_bh_cuda_emulated(
        yp, up, gp, lf::bind::cptr<int64_t>(c.indptr), lf::bind::cptr<int64_t>(c.indices),
        lf::bind::cptr<float>(c.pvals), st.n, c.nnz, theta, exaggeration, momentum, learning_rate,
        min_gain, compute_kl, config, s);
  }
  return py::make_tuple(r.kl, r.finite);
}

// ---- t-SNE perplexity calibration (ops/tsne_affinity_cuda.cuh) ----

// P and beta start at -1e30 (see fresh_output): an element no thread wrote fails a test.
py::tuple tsne_perplexity_cuda_emu(const py::object& d_obj, double perplexity, double tol,
                                   int max_iter, int config, const std::string& schedule,
                                   uint64_t seed) {
  const lf::emu::Schedule s = lf::emu::parse_schedule(schedule, seed);
  const auto D = lf::bind::array_arg<float>(d_obj, "D", 2, "(rows, k squared neighbour distances)");
  const int64_t rows = D.shape(0), k = D.shape(1);
  if (k < 1) throw py::value_error("D must have at least one column (k >= 1)");
  py::array_t<float> P({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(k)});
  py::array_t<float> beta(static_cast<py::ssize_t>(rows));
  std::fill_n(P.mutable_data(), P.size(), -1e30f);
  std::fill_n(beta.mutable_data(), beta.size(), -1e30f);
  float* pp = P.mutable_data();
  float* bp = beta.mutable_data();
  const float* dp = static_cast<const float*>(D.data());
  {
    py::gil_scoped_release release;
    lf::tsne_perplexity_cuda_emulated(pp, bp, dp, rows, k, perplexity, tol, max_iter, config, s);
  }
  return py::make_tuple(std::move(P), std::move(beta));
}

// ---- t-SNE symmetrisation (ops/tsne_symmetrize_cuda.cuh) ----

// A 1-D numpy copy of a vector.
template <class T>
py::array_t<T> vector_array(const std::vector<T>& v) {
  py::array_t<T> a(static_cast<py::ssize_t>(v.size()));
  std::copy(v.begin(), v.end(), a.mutable_data());
  return a;
}

py::tuple tsne_symmetrize_cuda_emu(const py::object& idx_obj, const py::object& p_obj, int64_t n,
                                   int config, const std::string& schedule, uint64_t seed) {
  const lf::emu::Schedule s = lf::emu::parse_schedule(schedule, seed);
  const auto I = lf::bind::array_arg<int64_t>(idx_obj, "indices", 2, "(n, k)");
  const auto P = lf::bind::array_arg<float>(p_obj, "P_cond", 2, "(n, k)");
  if (n < 0) throw py::value_error("n must be >= 0, got " + std::to_string(n));
  if (I.shape(0) != n) {
    throw py::value_error("indices must have n = " + std::to_string(n) + " rows, got shape " +
                          lf::bind::shape_str(I));
  }
  if (P.shape(0) != I.shape(0) || P.shape(1) != I.shape(1)) {
    throw py::value_error("P_cond must have the shape of indices " + lf::bind::shape_str(I) +
                          ", got " + lf::bind::shape_str(P));
  }
  const int64_t k = I.shape(1);
  const auto* ip = static_cast<const int64_t*>(I.data());
  const auto* pp = static_cast<const float*>(P.data());
  lf::CsrMatrixF32 csr;
  {
    py::gil_scoped_release release;
    lf::tsne_symmetrize_cuda_emulated(&csr, ip, pp, n, k, config, s);
  }
  return py::make_tuple(vector_array(csr.indptr), vector_array(csr.indices),
                        vector_array(csr.data));
}

// ---- elementwise and optimizers (ops/elementwise_cuda.cuh, ops/optim_cuda.cuh) ----

py::array elementwise_cuda_emu(const std::string& op, const py::object& a, const py::object& b,
                               int act, int config, const std::string& schedule, uint64_t seed) {
  const lf::emu::Schedule s = lf::emu::parse_schedule(schedule, seed);
  auto c = lf::bind::elementwise_cuda_call(op, a, b, act);
  // Outputs start at -1e30 (see fresh_output): an element no thread wrote fails a test.
  std::fill_n(c.out.mutable_data(), c.out.size(), -1e30f);
  float* out = c.out.mutable_data();
  const float* ap = lf::bind::cptr<float>(c.a);
  const float* bp = c.has_b ? lf::bind::cptr<float>(c.b) : nullptr;
  {
    py::gil_scoped_release release;
    lf::elementwise_cuda_emulated(c.op, out, ap, bp, c.rows, c.cols, c.act, config, s);
  }
  return std::move(c.out);
}

void optim_cuda_step_emu(const std::string& rule, const py::object& param, const py::object& grad,
                         const py::object& state0, const py::object& state1, float lr,
                         float momentum, float alpha, float rho, float beta1, float beta2,
                         float eps, float weight_decay, float l1, int64_t step, int config,
                         const std::string& schedule, uint64_t seed) {
  const lf::emu::Schedule s = lf::emu::parse_schedule(schedule, seed);
  const auto c = lf::bind::optim_cuda_call(rule, param, grad, state0, state1, momentum);
  const lf::OptimHyper h =
      lf::bind::optim_hyper(lr, momentum, alpha, rho, beta1, beta2, eps, weight_decay, l1, step);
  py::gil_scoped_release release;
  lf::optim_step_cuda_emulated(c.rule, c.ops.param.data, c.state0, c.state1, c.ops.grad.data,
                               c.ops.param.n, h, config, s);
}

py::tuple optim_cuda_max_norm_emu(const py::object& W, float max_norm, int axis, int config,
                                  const std::string& schedule, uint64_t seed) {
  const lf::emu::Schedule s = lf::emu::parse_schedule(schedule, seed);
  const py::array w = lf::bind::max_norm_matrix(W, axis);
  float* wp = lf::bind::mptr<float>(w);
  const int64_t rows = w.shape(0), cols = w.shape(1);
  // Flags start at -7: a vector no thread decided fails a test.
  py::array_t<int32_t> flags(static_cast<py::ssize_t>(axis == 0 ? cols : rows));
  std::fill_n(flags.mutable_data(), flags.size(), int32_t{-7});
  int32_t* fp = flags.mutable_data();
  int64_t count;
  {
    py::gil_scoped_release release;
    count = lf::max_norm_cuda_emulated(wp, fp, rows, cols, max_norm, axis, config, s);
  }
  return py::make_tuple(count, std::move(flags));
}

// ---- Philox draws and RBM Gibbs (ops/philox_cuda.cuh, ops/rbm_gibbs_cuda.cuh) ----
// Same arguments as _C._uniform_cuda, _C._sigmoid_bernoulli_cuda, _C._bernoulli_cuda and
// _C._rbm_free_energy_cuda; the emulator's own shuffle seed is `schedule_seed` (`seed` is
// Philox's). Outputs start at -1e30 (see fresh_output).

struct DrawArgs {
  uint64_t seed, stream, offset;
};

DrawArgs draw_args(const py::object& seed, const py::object& stream, const py::object& offset) {
  return {lf::bind::uint_arg(seed, "seed", 64), lf::bind::uint_arg(stream, "stream", 64),
          lf::bind::uint_arg(offset, "offset", 64)};
}

py::array uniform_cuda_emu(int64_t n, const py::object& seed, const py::object& stream,
                           const py::object& offset, int config, const std::string& schedule,
                           uint64_t schedule_seed) {
  if (n < 0 || n > (int64_t{1} << 24)) {
    throw py::value_error("n must be in [0, 2**24] (emulated), got " + std::to_string(n));
  }
  const lf::emu::Schedule s = lf::emu::parse_schedule(schedule, schedule_seed);
  const DrawArgs d = draw_args(seed, stream, offset);
  auto u = fresh_output(static_cast<uint64_t>(n));
  float* up = u.mutable_data();
  {
    py::gil_scoped_release release;
    lf::uniform_cuda_emulated(up, n, d.seed, d.stream, d.offset, config, s);
  }
  return u;
}

py::tuple sigmoid_bernoulli_cuda_emu(const py::object& z_obj, const py::object& seed,
                                     const py::object& stream, const py::object& offset, int config,
                                     const std::string& schedule, uint64_t schedule_seed) {
  const lf::emu::Schedule sch = lf::emu::parse_schedule(schedule, schedule_seed);
  const py::array z = lf::bind::array_arg<float>(z_obj, "z");
  const DrawArgs d = draw_args(seed, stream, offset);
  // p is computed in place over a copy of z, as _C._sigmoid_bernoulli_cuda does on the device.
  auto p = lf::bind::empty_like<float>(z);
  auto s = lf::bind::empty_like<float>(z);
  std::copy_n(lf::bind::cptr<float>(z), z.size(), p.mutable_data());
  std::fill_n(s.mutable_data(), s.size(), -1e30f);
  float *pp = p.mutable_data(), *sp = s.mutable_data();
  const int64_t n = static_cast<int64_t>(z.size());
  {
    py::gil_scoped_release release;
    lf::sigmoid_bernoulli_cuda_emulated(pp, sp, pp, n, d.seed, d.stream, d.offset, config, sch);
  }
  return py::make_tuple(std::move(p), std::move(s));
}

py::object bernoulli_cuda_emu(const py::object& p_obj, const py::object& seed,
                              const py::object& stream, const py::object& offset, int config,
                              bool check, const std::string& schedule, uint64_t schedule_seed) {
  const lf::emu::Schedule sch = lf::emu::parse_schedule(schedule, schedule_seed);
  const py::array p = lf::bind::array_arg<float>(p_obj, "p");
  const DrawArgs d = draw_args(seed, stream, offset);
  auto s = lf::bind::empty_like<float>(p);
  std::fill_n(s.mutable_data(), s.size(), -1e30f);
  float* sp = s.mutable_data();
  const float* pp = lf::bind::cptr<float>(p);
  const int64_t n = static_cast<int64_t>(p.size());
  int32_t invalid = -7;  // a flag the kernel path never leaves
  {
    py::gil_scoped_release release;
    lf::bernoulli_cuda_emulated(sp, check ? nullptr : &invalid, pp, n, d.seed, d.stream, d.offset,
                                config, sch);
  }
  if (check) return s;
  return py::make_tuple(std::move(s), invalid);
}

py::array rbm_free_energy_cuda_emu(const py::object& V_obj, const py::object& bv_obj,
                                   const py::object& Z_obj, int config, const std::string& schedule,
                                   uint64_t schedule_seed) {
  const lf::emu::Schedule sch = lf::emu::parse_schedule(schedule, schedule_seed);
  const py::array V = lf::bind::array_arg<float>(V_obj, "V", 2, "(rows, n_visible)");
  const py::array bv = lf::bind::array_arg<float>(bv_obj, "b_v");
  const py::array Z = lf::bind::array_arg<float>(Z_obj, "Z", 2, "(rows, n_hidden)");
  const int64_t rows = V.shape(0), nv = V.shape(1), nh = Z.shape(1);
  if (bv.ndim() != 1 || bv.shape(0) != nv) {
    throw py::value_error("b_v must have shape (" + std::to_string(nv) + ",), got " +
                          lf::bind::shape_str(bv));
  }
  if (Z.shape(0) != rows) {
    throw py::value_error("V and Z must have the same number of rows, got " +
                          lf::bind::shape_str(V) + " and " + lf::bind::shape_str(Z));
  }
  auto F = fresh_output(static_cast<uint64_t>(rows));
  float* fp = F.mutable_data();
  using lf::bind::cptr;
  const float *vp = cptr<float>(V), *bp = cptr<float>(bv), *zp = cptr<float>(Z);
  {
    py::gil_scoped_release release;
    lf::rbm_free_energy_cuda_emulated(fp, vp, bp, zp, rows, nv, nh, config, sch);
  }
  return F;
}

// ---- top-k and kNN (ops/topk_cuda.cuh, ops/knn_cuda.cuh) ----

void check_config(int config, int configs) {
  if (config < 0 || config >= configs) {
    throw py::value_error("config must be in [0, " + std::to_string(configs) + "), got " +
                          std::to_string(config));
  }
}

py::tuple topk_rows_cuda_emu(const py::object& x_obj, int64_t k, int config,
                             const std::string& schedule, uint64_t seed) {
  check_config(config, lf::kTopkCudaConfigs);
  const lf::emu::Schedule s = lf::emu::parse_schedule(schedule, seed);
  const py::array x = lf::bind::array_arg<float>(x_obj, "x", 2, "(rows, cols)");
  const int64_t rows = x.shape(0), cols = x.shape(1);
  if (k < 1 || k > cols) {
    throw py::value_error("k must satisfy 1 <= k <= cols = " + std::to_string(cols) + ", got " +
                          std::to_string(k));
  }
  // Outputs start at values the kernel never writes (-1e30, mask 7): an element no thread wrote
  // fails a test.
  py::array_t<float> y({x.shape(0), x.shape(1)});
  py::array_t<uint8_t> mask({x.shape(0), x.shape(1)});
  std::fill_n(y.mutable_data(), y.size(), -1e30f);
  std::fill_n(mask.mutable_data(), mask.size(), uint8_t{7});
  float* yp = y.mutable_data();
  uint8_t* mp = mask.mutable_data();
  const float* xp = lf::bind::cptr<float>(x);
  int32_t flag = -7;
  {
    py::gil_scoped_release release;
    lf::topk_rows_cuda_emulated(yp, mp, &flag, xp, rows, cols, k, config, s);
  }
  return py::make_tuple(std::move(y), std::move(mask), flag);
}

py::array topk_rows_backward_cuda_emu(const py::object& dy_obj, const py::object& mask_obj,
                                      int config, const std::string& schedule, uint64_t seed) {
  check_config(config, lf::kTopkCudaConfigs);
  const lf::emu::Schedule s = lf::emu::parse_schedule(schedule, seed);
  const py::array dy = lf::bind::array_arg<float>(dy_obj, "dy", 2, "(rows, cols)");
  const py::array mask = lf::bind::array_arg<uint8_t>(mask_obj, "mask", 2, "(rows, cols)");
  lf::bind::require_same_shape(dy, "dy", mask, "mask");
  py::array_t<float> dx({dy.shape(0), dy.shape(1)});
  std::fill_n(dx.mutable_data(), dx.size(), -1e30f);
  float* dxp = dx.mutable_data();
  const float* dyp = lf::bind::cptr<float>(dy);
  const uint8_t* mp = lf::bind::cptr<uint8_t>(mask);
  {
    py::gil_scoped_release release;
    lf::topk_rows_backward_cuda_emulated(dxp, dyp, mp, dy.shape(0), dy.shape(1), config, s);
  }
  return dx;
}

py::tuple knn_cuda_emu(const py::object& x_obj, int64_t k, int64_t tile_rows, int config,
                       const std::string& schedule, uint64_t seed) {
  check_config(config, lf::kKnnCudaConfigs);
  const lf::emu::Schedule s = lf::emu::parse_schedule(schedule, seed);
  const py::array X = lf::bind::array_arg<float>(x_obj, "X", 2, "(n_samples, n_features)");
  const int64_t n = X.shape(0), d = X.shape(1);
  if (k < 1 || k > n - 1) {
    throw py::value_error("k must satisfy 1 <= k <= n - 1 = " + std::to_string(n - 1) + ", got " +
                          std::to_string(k));
  }
  if (tile_rows < 0)
    throw py::value_error("tile_rows must be >= 0, got " + std::to_string(tile_rows));
  py::array_t<int64_t> idx({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(k)});
  py::array_t<float> dist({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(k)});
  std::fill_n(idx.mutable_data(), idx.size(), int64_t{-7});
  std::fill_n(dist.mutable_data(), dist.size(), -1e30f);
  int64_t* ip = idx.mutable_data();
  float* dp = dist.mutable_data();
  const float* xp = lf::bind::cptr<float>(X);
  bool bad;
  {
    py::gil_scoped_release release;
    bad = lf::knn_cuda_emulated(ip, dp, xp, n, d, k, tile_rows, config, s);
  }
  return py::make_tuple(std::move(idx), std::move(dist), bad);
}

}  // namespace

PYBIND11_MODULE(_emu, m) {
  m.doc() =
      "The CUDA emulator and the kernels it runs on the CPU (test-only; not in release wheels)";
  py::tuple names(std::size(lf::emu::kScheduleKinds));
  for (size_t i = 0; i < names.size(); ++i)
    names[i] = py::str(lf::emu::schedule_name(lf::emu::kScheduleKinds[i]));
  m.attr("SCHEDULES") = names;

  m.def("gemm_cuda", &gemm_cuda, py::arg("A"), py::arg("B"), py::arg("C") = py::none(),
        py::arg("trans_a") = false, py::arg("trans_b") = false, py::arg("alpha") = 1.0f,
        py::arg("beta") = 0.0f, py::arg("bias") = py::none(), py::arg("activation") = 0,
        py::arg("config") = 0, py::arg("schedule") = "forward", py::arg("seed") = 0,
        "The CUDA GEMM kernel (ops/gemm_cuda.cuh) run by the emulator: C = act(alpha * op(A) @ "
        "op(B) + beta * C + bias) on float32 row-major host matrices (same contract and checks as "
        "_C.gemm), with launch configuration `config` in [0, gemm_cuda_num_configs()). Returns C "
        "(allocated when None).");
  m.def("gemm_cuda_num_configs", &lf::gemm_cuda_emulated_num_configs,
        "Number of launch configurations of the emulated CUDA GEMM kernel.");
  m.def("topk_rows_cuda", &topk_rows_cuda_emu, py::arg("x"), py::arg("k"), py::arg("config") = 0,
        py::arg("schedule") = "forward", py::arg("seed") = 0,
        "The CUDA row top-k kernel (ops/topk_cuda.cuh) run by the emulator. Returns (y, mask, "
        "nan_flag): a row with a NaN is zeros (mask 0) and sets nan_flag to 1 (else 0).");
  m.def("topk_rows_backward_cuda", &topk_rows_backward_cuda_emu, py::arg("dy"), py::arg("mask"),
        py::arg("config") = 0, py::arg("schedule") = "forward", py::arg("seed") = 0,
        "The CUDA top-k backward kernel run by the emulator. Returns dx.");
  m.def(
      "topk_cuda_num_configs", [] { return lf::kTopkCudaConfigs; },
      "Number of launch configurations of the CUDA top-k kernels.");
  m.def("knn_cuda", &knn_cuda_emu, py::arg("X"), py::arg("k"), py::arg("tile_rows") = 0,
        py::arg("config") = 0, py::arg("schedule") = "forward", py::arg("seed") = 0,
        "The CUDA kNN pipeline (ops/knn_cuda.cuh: emulated device GEMM tiles of tile_rows query "
        "rows, norms, per-row radix selection) run by the emulator. Returns (indices, "
        "sq_distances, error_flag).");
  m.def(
      "knn_cuda_num_configs", [] { return lf::kKnnCudaConfigs; },
      "Number of launch configurations of the CUDA kNN kernels.");
  m.def("pool2d_cuda_forward", &pool2d_cuda_forward, py::arg("x"), py::arg("mode"),
        py::arg("kernel_size"), py::arg("stride"), py::arg("padding"), py::arg("config") = 0,
        py::arg("schedule") = "forward", py::arg("seed") = 0,
        "The CUDA pooling forward kernel (ops/pool2d_cuda.cuh) run by the emulator, mode 'max', "
        "'avg' or 'l2', same checks as _C.max_pool2d_forward. Returns (y, argmax or None).");
  m.def("pool2d_cuda_backward", &pool2d_cuda_backward, py::arg("dy"), py::arg("argmax"),
        py::arg("x"), py::arg("y"), py::arg("input_hw"), py::arg("mode"), py::arg("kernel_size"),
        py::arg("stride"), py::arg("padding"), py::arg("config") = 0,
        py::arg("schedule") = "forward", py::arg("seed") = 0,
        "The CUDA pooling backward kernel run by the emulator (argmax for 'max', x and y for 'l2', "
        "None otherwise; input_hw is read for 'max' and 'avg'). Returns dx.");
  m.def("elementwise_cuda", &elementwise_cuda_emu, py::arg("op"), py::arg("a"),
        py::arg("b") = py::none(), py::arg("act") = 0, py::arg("config") = 0,
        py::arg("schedule") = "forward", py::arg("seed") = 0,
        "The emulated CUDA elementwise kernel `op` (as _C._elementwise_cuda): activation_forward, "
        "activation_backward, softmax_forward, softmax_backward, log_softmax_forward, "
        "log_softmax_backward. Returns a new array.");
  m.def(
      "elementwise_cuda_num_configs", [] { return lf::kElementwiseCudaConfigs; },
      "Number of launch configurations of the elementwise kernels.");
  m.def("optim_cuda_step", &optim_cuda_step_emu, py::arg("rule"), py::arg("param"), py::arg("grad"),
        py::arg("state0") = py::none(), py::arg("state1") = py::none(), py::kw_only(),
        py::arg("lr"), py::arg("momentum") = 0.0f, py::arg("alpha") = 0.0f, py::arg("rho") = 0.0f,
        py::arg("beta1") = 0.0f, py::arg("beta2") = 0.0f, py::arg("eps") = 0.0f,
        py::arg("weight_decay") = 0.0f, py::arg("l1") = 0.0f, py::arg("step") = 1,
        py::arg("config") = 0, py::arg("schedule") = "forward", py::arg("seed") = 0,
        "One emulated CUDA optimizer step (as _C._optim_cuda_step), in place.");
  m.def("optim_cuda_max_norm", &optim_cuda_max_norm_emu, py::arg("W"), py::arg("max_norm"),
        py::arg("axis") = 1, py::arg("config") = 0, py::arg("schedule") = "forward",
        py::arg("seed") = 0,
        "The emulated CUDA max-norm (as _C._optim_cuda_max_norm), in place; returns (count, "
        "flags) with flags[k] = 1 when vector k was rescaled.");
  m.def(
      "optim_cuda_num_configs", [] { return lf::kOptimCudaConfigs; },
      "Number of launch configurations of the optimizer kernels.");
  m.def(
      "pool2d_cuda_num_configs", [] { return lf::kPool2dCudaConfigs; },
      "Number of launch configurations of the CUDA pooling kernels.");

  m.def("uniform_cuda", &uniform_cuda_emu, py::arg("n"), py::arg("seed"), py::arg("stream"),
        py::arg("offset") = 0, py::arg("config") = 0, py::arg("schedule") = "forward",
        py::arg("schedule_seed") = 0,
        "The emulated CUDA uniform draws (as _C._uniform_cuda): n draws from `offset` of Philox "
        "stream (seed, stream).");
  m.def(
      "philox_cuda_num_configs", [] { return lf::kPhiloxCudaConfigs; },
      "Number of launch configurations of the CUDA uniform kernel.");
  m.def("sigmoid_bernoulli_cuda", &sigmoid_bernoulli_cuda_emu, py::arg("z"), py::arg("seed"),
        py::arg("stream"), py::arg("offset") = 0, py::arg("config") = 0,
        py::arg("schedule") = "forward", py::arg("schedule_seed") = 0,
        "The emulated CUDA fused sigmoid + Bernoulli kernel (as _C._sigmoid_bernoulli_cuda), p "
        "in place over a copy of z. Returns (p, s).");
  m.def("bernoulli_cuda", &bernoulli_cuda_emu, py::arg("p"), py::arg("seed"), py::arg("stream"),
        py::arg("offset") = 0, py::arg("config") = 0, py::arg("check") = true,
        py::arg("schedule") = "forward", py::arg("schedule_seed") = 0,
        "The emulated CUDA Bernoulli kernel (as _C._bernoulli_cuda), run in place on a copy of p: "
        "check=True raises ValueError from the kernel's flag; check=False returns (s, invalid).");
  m.def("rbm_free_energy_cuda", &rbm_free_energy_cuda_emu, py::arg("V"), py::arg("b_v"),
        py::arg("Z"), py::arg("config") = 0, py::arg("schedule") = "forward",
        py::arg("schedule_seed") = 0,
        "The emulated CUDA free-energy kernel (as _C._rbm_free_energy_cuda).");
  m.def(
      "rbm_gibbs_cuda_num_configs", [] { return lf::kRbmGibbsCudaConfigs; },
      "Number of launch configurations of the CUDA RBM kernels.");

  m.def("batch_norm_forward_train_cuda", &batch_norm_forward_train_cuda, py::arg("x"),
        py::arg("gamma"), py::arg("beta"), py::arg("running_mean"), py::arg("running_var"),
        py::arg("momentum"), py::arg("eps"), py::arg("config") = 0, py::arg("schedule") = "forward",
        py::arg("seed") = 0,
        "The CUDA training batch-norm kernel (ops/batch_norm_cuda.cuh) run by the emulator; same "
        "contract and checks as _C.batch_norm_forward_train. Returns (y, mean, invstd).");
  m.def("batch_norm_backward_cuda", &batch_norm_backward_cuda, py::arg("dy"), py::arg("x"),
        py::arg("mean"), py::arg("invstd"), py::arg("gamma"), py::arg("training"),
        py::arg("config") = 0, py::arg("schedule") = "forward", py::arg("seed") = 0,
        "The CUDA batch-norm backward kernel run by the emulator. Returns (dx, dgamma, dbeta).");
  m.def("batch_norm_forward_eval_cuda", &batch_norm_forward_eval_cuda, py::arg("x"),
        py::arg("gamma"), py::arg("beta"), py::arg("mean"), py::arg("var"), py::arg("eps"),
        py::arg("config") = 0, py::arg("schedule") = "forward", py::arg("seed") = 0,
        "The CUDA evaluation batch-norm kernel run by the emulator.");
  m.def("batch_norm_cuda_num_configs", &lf::batch_norm_cuda_emulated_num_configs,
        "Number of launch configurations (block sizes) of the emulated batch-norm kernels.");

  m.def("local_contrast_norm2d_cuda_forward", &lcn_forward_cuda, py::arg("x"), py::arg("size"),
        py::arg("sigma"), py::arg("eps"), py::arg("config") = 0, py::arg("schedule") = "forward",
        py::arg("seed") = 0,
        "The CUDA local contrast normalisation forward (ops/local_contrast_norm2d_cuda.cuh) run by "
        "the emulator; same contract and checks as _C.local_contrast_norm2d_forward. Returns (y, "
        "mean, sigma_map, c).");
  m.def("local_contrast_norm2d_cuda_backward", &lcn_backward_cuda, py::arg("dy"), py::arg("x"),
        py::arg("mean"), py::arg("sigma_map"), py::arg("c"), py::arg("size"), py::arg("sigma"),
        py::arg("eps"), py::arg("config") = 0, py::arg("schedule") = "forward", py::arg("seed") = 0,
        "The CUDA local contrast normalisation backward run by the emulator. Returns dx.");
  m.def(
      "local_contrast_norm2d_cuda_num_configs", [] { return lf::kLcnCudaConfigs; },
      "Number of launch configurations of the CUDA local contrast normalisation kernels.");

  const Pair one{1, 1}, zero{0, 0};
  m.def("conv2d_forward_cuda", &conv2d_forward_emu, py::arg("x"), py::arg("weight"),
        py::arg("bias") = py::none(), py::arg("stride") = one, py::arg("padding") = zero,
        py::arg("config") = 0, py::arg("schedule") = "forward", py::arg("seed") = 0,
        "The CUDA conv2d forward kernel (ops/conv2d_cuda.cuh) run by the emulator.");
  m.def("conv2d_backward_data_cuda", &conv2d_backward_data_emu, py::arg("dy"), py::arg("weight"),
        py::arg("input_hw"), py::arg("stride") = one, py::arg("padding") = zero,
        py::arg("config") = 0, py::arg("schedule") = "forward", py::arg("seed") = 0,
        "The CUDA conv2d backward-data kernel run by the emulator.");
  m.def("conv2d_backward_weights_cuda", &conv2d_backward_weights_emu, py::arg("dy"), py::arg("x"),
        py::arg("kernel_hw"), py::arg("stride") = one, py::arg("padding") = zero,
        py::arg("bias") = true, py::arg("config") = 0, py::arg("schedule") = "forward",
        py::arg("seed") = 0,
        "The CUDA conv2d backward-weights (and bias-gradient) kernels run by the emulator.");
  m.def("conv2d_cuda_num_configs", &lf::conv2d_cuda_emulated_num_configs,
        "Number of launch configurations (block sizes) of the emulated CUDA conv2d kernels.");

  m.def("locally_connected2d_forward_cuda", &lc2d_forward_emu, py::arg("x"), py::arg("weight"),
        py::arg("bias") = py::none(), py::arg("stride") = one, py::arg("config") = 0,
        py::arg("schedule") = "forward", py::arg("seed") = 0,
        "The CUDA locally connected forward kernel (ops/locally_connected2d_cuda.cuh) run by the "
        "emulator.");
  m.def("locally_connected2d_backward_data_cuda", &lc2d_backward_data_emu, py::arg("dy"),
        py::arg("weight"), py::arg("input_hw"), py::arg("stride") = one, py::arg("config") = 0,
        py::arg("schedule") = "forward", py::arg("seed") = 0,
        "The CUDA locally connected backward-data kernel run by the emulator.");
  m.def("locally_connected2d_backward_weights_cuda", &lc2d_backward_weights_emu, py::arg("dy"),
        py::arg("x"), py::arg("kernel_hw"), py::arg("stride") = one, py::arg("bias") = true,
        py::arg("config") = 0, py::arg("schedule") = "forward", py::arg("seed") = 0,
        "The CUDA locally connected backward-weights (and bias-gradient) kernels run by the "
        "emulator.");
  m.def("locally_connected2d_cuda_num_configs", &lf::locally_connected2d_cuda_emulated_num_configs,
        "Number of launch configurations (block sizes) of the emulated locally connected kernels.");

  m.def("word2vec_noise_sample_cuda", &w2v_noise_sample_emu, py::arg("prob"), py::arg("alias"),
        py::arg("V"), py::arg("n"), py::arg("seed"), py::arg("counter") = 0,
        py::arg("schedule") = "forward", py::arg("schedule_seed") = 0,
        "The CUDA noise sampler (ops/word2vec_cuda.cuh) run by the emulator: n draws of the alias "
        "table (prob, alias), or log-uniform over V ids when both are None.");
  m.def("word2vec_train_cuda", &w2v_train_emu, py::arg("syn0"), py::arg("syn1"), py::arg("bias"),
        py::arg("ids"), py::arg("sent_ends"), py::arg("keep_prob"), py::arg("noise_prob"),
        py::arg("noise_alias"), py::arg("noise_logq"), py::kw_only(), py::arg("sg"),
        py::arg("loss"), py::arg("negative"), py::arg("window"), py::arg("alpha"),
        py::arg("alpha_end"), py::arg("seed"), py::arg("counter"),
        py::arg("remove_accidental_hits"), py::arg("blocks") = 1, py::arg("schedule") = "forward",
        py::arg("schedule_seed") = 0,
        "The CUDA word2vec training kernel run by the emulator (same contract as "
        "_C.word2vec_train, classic updates only): `blocks` Hogwild shards, run one after "
        "another. Returns (loss_sum, words_processed, pairs_trained).");

  m.def("tsne_gradient_exact_cuda", &tsne_exact_cuda_emu, py::arg("Y"), py::arg("P"),
        py::arg("exaggeration") = 1.0, py::arg("compute_kl") = true, py::arg("config") = 0,
        py::arg("schedule") = "forward", py::arg("seed") = 0,
        "The CUDA exact t-SNE gradient (ops/tsne_bh_cuda.cuh) run by the emulator (same contract "
        "and checks as _C.tsne_gradient_exact). Returns (grad, kl).");
  m.def("tsne_gradient_bh_cuda", &tsne_bh_cuda_emu, py::arg("Y"), py::arg("indptr"),
        py::arg("indices"), py::arg("pvals"), py::arg("theta") = 0.5, py::arg("exaggeration") = 1.0,
        py::arg("compute_kl") = true, py::arg("config") = 0, py::arg("schedule") = "forward",
        py::arg("seed") = 0,
        "The CUDA Barnes-Hut t-SNE gradient run by the emulator: the host-built, flattened "
        "quadtree and the device traversal (same contract and checks as _C.tsne_gradient_bh). "
        "Returns (grad, kl).");
  m.def(
      "tsne_cuda_num_configs", [] { return lf::kTsneCudaConfigs; },
      "Number of launch configurations of the CUDA t-SNE gradient kernels.");

  m.def("tsne_step_cuda", &tsne_step_cuda_emu, py::arg("Y"), py::arg("update"), py::arg("gains"),
        py::arg("grad"), py::arg("momentum"), py::arg("learning_rate"), py::arg("min_gain") = 0.01,
        py::arg("config") = 0, py::arg("schedule") = "forward", py::arg("seed") = 0,
        "The CUDA t-SNE step (ops/tsne_grouped_cuda.cuh) run by the emulator: TsneBarnesHut.step's "
        "update given grad, in place on Y, update, gains; returns finite.");
  m.def("tsne_step_bh_cuda", &tsne_step_bh_cuda_emu, py::arg("Y"), py::arg("update"),
        py::arg("gains"), py::arg("indptr"), py::arg("indices"), py::arg("pvals"), py::arg("theta"),
        py::arg("exaggeration"), py::arg("momentum"), py::arg("learning_rate"),
        py::arg("min_gain") = 0.01, py::arg("compute_kl") = false, py::arg("config") = 0,
        py::arg("schedule") = "forward", py::arg("seed") = 0,
        "One CUDA t-SNE iteration run by the emulator: the emulated tsne_gradient_bh_cuda at "
        "float32(Y), then the step; returns (kl, finite).");
  m.def(
      "tsne_step_cuda_num_configs", [] { return lf::kTsneStepCudaConfigs; },
      "Number of launch configurations of the CUDA t-SNE step kernels.");

  m.def("tsne_perplexity_cuda", &tsne_perplexity_cuda_emu, py::arg("D"), py::arg("perplexity"),
        py::arg("tol") = 1e-5, py::arg("max_iter") = 200, py::arg("config") = 0,
        py::arg("schedule") = "forward", py::arg("seed") = 0,
        "The CUDA t-SNE perplexity calibration (ops/tsne_affinity_cuda.cuh) run by the emulator "
        "(same contract and checks as _C.tsne_perplexity). Returns (P, beta).");
  m.def(
      "tsne_perplexity_cuda_num_configs", [] { return lf::kTsnePerplexityCudaConfigs; },
      "Number of launch configurations of the CUDA t-SNE perplexity calibration kernel.");

  m.def("tsne_symmetrize_cuda", &tsne_symmetrize_cuda_emu, py::arg("indices"), py::arg("P_cond"),
        py::arg("n"), py::arg("config") = 0, py::arg("schedule") = "forward", py::arg("seed") = 0,
        "The CUDA t-SNE symmetrisation (ops/tsne_symmetrize_cuda.cuh) run by the emulator (same "
        "contract and checks as _C.tsne_symmetrize). Returns (indptr, indices, data).");
  m.def(
      "tsne_symmetrize_cuda_num_configs", [] { return lf::kTsneSymmetrizeCudaConfigs; },
      "Number of launch configurations of the CUDA t-SNE symmetrisation kernels.");

  // ---- the emulator's own test kernels (emu/broken_kernels.cuh) ----
  // Each takes the grid and block as (x, y, z) and returns a fresh output (see fresh_output).
  namespace t = lf::emu_tests;
  using lf::emu::parse_schedule;
  m.def(
      "neighbour",
      [](const py::object& in, Dim3 grid, Dim3 block, bool sync, const std::string& schedule,
         uint64_t seed) {
        const Grid g = grid_arg(grid, block);
        const auto x = float_input(in, "in", g.n);
        auto out = fresh_output(g.n);
        const auto s = parse_schedule(schedule, seed);
        {
          py::gil_scoped_release release;
          t::neighbour(out.mutable_data(), x.data(), grid, block, sync, s);
        }
        return out;
      },
      py::arg("in"), py::arg("grid"), py::arg("block"), py::arg("sync"),
      py::arg("schedule") = "forward", py::arg("seed") = 0,
      "out[i] = in[next thread of i's block, cyclically] through shared memory; sync=False "
      "drops the barrier between the writes and the reads.");
  m.def(
      "rounds",
      [](const py::object& in, Dim3 grid, Dim3 block, int rounds, bool sync_after_read,
         const std::string& schedule, uint64_t seed) {
        const Grid g = grid_arg(grid, block);
        if (rounds < 0) throw py::value_error("rounds must be >= 0");
        const auto x = float_input(in, "in", g.n * static_cast<uint64_t>(rounds));
        auto out = fresh_output(g.n);
        const auto s = parse_schedule(schedule, seed);
        {
          py::gil_scoped_release release;
          t::rounds(out.mutable_data(), x.data(), grid, block, rounds, sync_after_read, s);
        }
        return out;
      },
      py::arg("in"), py::arg("grid"), py::arg("block"), py::arg("rounds"),
      py::arg("sync_after_read"), py::arg("schedule") = "forward", py::arg("seed") = 0,
      "`rounds` exchanges as in neighbour(), summed (in holds rounds x grid threads values); "
      "sync_after_read=False drops the barrier before the next round overwrites the slots.");
  m.def(
      "barrier",
      [](Dim3 grid, Dim3 block, int mode, const std::string& schedule, uint64_t seed) {
        const Grid g = grid_arg(grid, block);
        auto out = fresh_output(g.n);
        const auto s = parse_schedule(schedule, seed);
        {
          py::gil_scoped_release release;
          t::barrier(out.mutable_data(), grid, block, mode, s);
        }
        return out;
      },
      py::arg("grid"), py::arg("block"), py::arg("mode"), py::arg("schedule") = "forward",
      py::arg("seed") = 0,
      "mode 0: a correct barrier; 1: only even threads reach it; 2: thread 0 syncs once more; "
      "3: the block splits between two __syncthreads() calls. Returns 1 per thread past it.");
  m.def(
      "stale",
      [](Dim3 grid, Dim3 block, int64_t writer, const std::string& schedule, uint64_t seed) {
        const Grid g = grid_arg(grid, block);
        auto out = fresh_output(g.n);
        const auto s = parse_schedule(schedule, seed);
        {
          py::gil_scoped_release release;
          t::stale(out.mutable_data(), grid, block, writer, s);
        }
        return out;
      },
      py::arg("grid"), py::arg("block"), py::arg("writer"), py::arg("schedule") = "forward",
      py::arg("seed") = 0,
      "Only block `writer` (linear index; -1: none) writes 1 + thread index to shared memory; "
      "every block returns what it reads there.");
  m.def(
      "order",
      [](Dim3 grid, Dim3 block, const std::string& schedule, uint64_t seed) {
        const Grid g = grid_arg(grid, block);
        const auto s = parse_schedule(schedule, seed);
        if (s.kind == lf::emu::ScheduleKind::concurrent) {
          throw py::value_error("order() needs a deterministic schedule (its counter would race)");
        }
        py::array_t<int64_t> tickets({static_cast<py::ssize_t>(g.blocks),
                                      static_cast<py::ssize_t>(g.threads), py::ssize_t{2}});
        std::fill_n(tickets.mutable_data(), 2 * g.n, int64_t{-1});
        {
          py::gil_scoped_release release;
          t::order(tickets.mutable_data(), grid, block, s);
        }
        return tickets;
      },
      py::arg("grid"), py::arg("block"), py::arg("schedule") = "forward", py::arg("seed") = 0,
      "tickets[block, thread, interval]: when each thread ran before (0) and after (1) a barrier, "
      "counted from 0 over the launch (linear block and thread indices).");
  m.def(
      "reduce",
      [](const py::object& in, Dim3 grid, Dim3 block, const std::string& schedule, uint64_t seed) {
        const Grid g = grid_arg(grid, block);
        if (g.threads == 0 || (g.threads & (g.threads - 1)) != 0) {
          throw py::value_error("reduce() needs a power-of-two number of threads per block");
        }
        const auto x = float_input(in, "in", g.n);
        auto out = fresh_output(g.blocks);
        const auto s = parse_schedule(schedule, seed);
        {
          py::gil_scoped_release release;
          t::reduce(out.mutable_data(), x.data(), grid, block, s);
        }
        return out;
      },
      py::arg("in"), py::arg("grid"), py::arg("block"), py::arg("schedule") = "forward",
      py::arg("seed") = 0, "out[b] = sum of block b's inputs, by a tree reduction.");
  m.def(
      "big_shared",
      [](unsigned threads, const std::string& schedule, uint64_t seed) {
        if (threads == 0 || threads > 1024) throw py::value_error("threads must be in [1, 1024]");
        auto out = fresh_output(threads);
        const auto s = parse_schedule(schedule, seed);
        {
          py::gil_scoped_release release;
          t::big_shared(out.mutable_data(), Dim3{threads, 1, 1}, s);
        }
        return out;
      },
      py::arg("threads"), py::arg("schedule") = "forward", py::arg("seed") = 0,
      "A kernel declaring 64 KiB of static shared memory (over the 48 KiB limit).");
  m.def(
      "mark",
      [](Dim3 grid, Dim3 block, const std::string& schedule, uint64_t seed) {
        const Grid g = grid_arg(grid, block);
        py::array_t<int32_t> runs(static_cast<py::ssize_t>(g.n));
        std::fill_n(runs.mutable_data(), g.n, int32_t{0});
        const auto s = parse_schedule(schedule, seed);
        {
          py::gil_scoped_release release;
          t::mark(runs.mutable_data(), grid, block, s);
        }
        return runs;
      },
      py::arg("grid"), py::arg("block"), py::arg("schedule") = "forward", py::arg("seed") = 0,
      "Launches a kernel that adds 1 per thread to runs[linear thread index in the grid], with "
      "the grid and block exactly as given (invalid configurations included).");

  // ---- atomics, warp primitives, dynamic shared memory (emu/warp_atomic_kernels.cuh) ----
  m.def(
      "atomic_sums",
      [](const py::object& xf_obj, const py::object& xi_obj, Dim3 grid, Dim3 block,
         const std::string& schedule, uint64_t seed) {
        const Grid g = grid_arg(grid, block);
        const auto xf = float_input(xf_obj, "xf", g.n);
        const auto xi = int_input(xi_obj, "xi", g.n);
        auto block_f = fresh_output(g.blocks);
        auto block_i = filled<int32_t>(g.blocks, -7);
        auto tickets_i = filled<int32_t>(g.n, -7);
        auto tickets_u = filled<uint32_t>(g.n, 0xdeadbeefu);
        auto tickets_f = fresh_output(g.n);
        const auto s = parse_schedule(schedule, seed);
        t::AtomicSums r;
        {
          py::gil_scoped_release release;
          r = t::atomic_sums(block_f.mutable_data(), block_i.mutable_data(),
                             tickets_i.mutable_data(), tickets_u.mutable_data(),
                             tickets_f.mutable_data(), xf.data(), xi.data(), grid, block, s);
        }
        py::dict d;
        d["total_f"] = r.total_f;
        d["total_i"] = r.total_i;
        d["total_u"] = r.total_u;
        d["counter_i"] = r.counter_i;
        d["counter_u"] = r.counter_u;
        d["counter_f"] = r.counter_f;
        d["block_f"] = block_f;
        d["block_i"] = block_i;
        d["tickets_i"] = tickets_i;
        d["tickets_u"] = tickets_u;
        d["tickets_f"] = tickets_f;
        return d;
      },
      py::arg("xf"), py::arg("xi"), py::arg("grid"), py::arg("block"),
      py::arg("schedule") = "forward", py::arg("seed") = 0,
      "atomicAdd sums over the grid (total_f/i/u) and per block through shared memory "
      "(block_f/i), and tickets_i/u/f: what atomicAdd(counter, 1) returned to each thread.");
  m.def(
      "atomic_minmax",
      [](const py::object& x_obj, Dim3 grid, Dim3 block, const std::string& schedule,
         uint64_t seed) {
        const Grid g = grid_arg(grid, block);
        const auto x = int_input(x_obj, "x", g.n);
        auto old_max = filled<int32_t>(g.n, -7);
        int32_t extremes[2];
        const auto s = parse_schedule(schedule, seed);
        {
          py::gil_scoped_release release;
          t::atomic_minmax(extremes, old_max.mutable_data(), x.data(), grid, block, s);
        }
        return py::make_tuple(extremes[0], extremes[1], old_max);
      },
      py::arg("x"), py::arg("grid"), py::arg("block"), py::arg("schedule") = "forward",
      py::arg("seed") = 0,
      "(max, min, old_max): atomicMax/atomicMin of x over the grid, and what atomicMax returned "
      "to each thread.");
  m.def(
      "spin_lock",
      [](Dim3 grid, Dim3 block, int iters, const std::string& schedule, uint64_t seed) {
        const Grid g = grid_arg(grid, block);
        if (iters < 0) throw py::value_error("iters must be >= 0");
        auto slots = filled<uint32_t>((g.n + 1) / 2, 0u);
        auto claimed_old = filled<uint32_t>(g.n, 0xdeadbeefu);
        const auto s = parse_schedule(schedule, seed);
        int32_t counter;
        {
          py::gil_scoped_release release;
          counter =
              t::spin_lock(slots.mutable_data(), claimed_old.mutable_data(), iters, grid, block, s);
        }
        return py::make_tuple(counter, slots, claimed_old);
      },
      py::arg("grid"), py::arg("block"), py::arg("iters"), py::arg("schedule") = "forward",
      py::arg("seed") = 0,
      "(counter, slots, claimed_old): a plain counter incremented `iters` times per thread "
      "under an atomicCAS spin lock; unsigned atomicCAS claims of slots[i // 2] by i + 1.");
  m.def(
      "misaligned_atomic",
      [](const std::string& schedule, uint64_t seed) {
        const auto s = parse_schedule(schedule, seed);
        py::gil_scoped_release release;
        t::misaligned_atomic(s);
      },
      py::arg("schedule") = "forward", py::arg("seed") = 0,
      "A one-thread kernel whose atomicAdd targets a misaligned int (always fails).");
  m.def(
      "warp_sum",
      [](const py::object& x_obj, const py::object& xi_obj, Dim3 grid, Dim3 block, int mode,
         const std::string& schedule, uint64_t seed) {
        const Grid g = grid_arg(grid, block);
        if (mode < 0 || mode > 2) throw py::value_error("mode must be 0, 1 or 2");
        const auto x = float_input(x_obj, "x", g.n);
        const auto xi = int_input(xi_obj, "xi", g.n);
        auto out = fresh_output(g.n);
        const auto s = parse_schedule(schedule, seed);
        {
          py::gil_scoped_release release;
          t::warp_sum(out.mutable_data(), x.data(), xi.data(), mode, grid, block, s);
        }
        return out;
      },
      py::arg("x"), py::arg("xi"), py::arg("grid"), py::arg("block"), py::arg("mode"),
      py::arg("schedule") = "forward", py::arg("seed") = 0,
      "Warp sums, each lane's final value: mode 0 __shfl_down_sync (lane 0 holds the sum), "
      "1 __shfl_xor_sync (every lane does), 2 __shfl_down_sync on the ints xi.");
  m.def(
      "block_sum",
      [](const py::object& x_obj, Dim3 grid, Dim3 block, int rounds, const std::string& schedule,
         uint64_t seed) {
        const Grid g = grid_arg(grid, block);
        if (g.threads % 32 != 0) throw py::value_error("block_sum() needs whole warps");
        if (rounds < 0) throw py::value_error("rounds must be >= 0");
        const auto x = float_input(x_obj, "x", g.n);
        auto out = fresh_output(g.blocks);
        const auto s = parse_schedule(schedule, seed);
        {
          py::gil_scoped_release release;
          t::block_sum(out.mutable_data(), x.data(), rounds, grid, block, s);
        }
        return out;
      },
      py::arg("x"), py::arg("grid"), py::arg("block"), py::arg("rounds"),
      py::arg("schedule") = "forward", py::arg("seed") = 0,
      "out[b] = sum over r < rounds of (r + 1) * sum of block b's x, by warp shuffles, shared "
      "memory and __syncthreads().");
  m.def(
      "vote",
      [](const py::object& pred_obj, Dim3 grid, Dim3 block, const std::string& schedule,
         uint64_t seed) {
        const Grid g = grid_arg(grid, block);
        const auto pred = int_input(pred_obj, "pred", g.n);
        py::array_t<uint32_t> votes({static_cast<py::ssize_t>(g.n), py::ssize_t{3}});
        std::fill_n(votes.mutable_data(), 3 * g.n, 0xdeadbeefu);
        const auto s = parse_schedule(schedule, seed);
        {
          py::gil_scoped_release release;
          t::vote(votes.mutable_data(), pred.data(), grid, block, s);
        }
        return votes;
      },
      py::arg("pred"), py::arg("grid"), py::arg("block"), py::arg("schedule") = "forward",
      py::arg("seed") = 0,
      "votes[i] = (__ballot_sync, __all_sync, __any_sync) of pred over the lanes that exist in "
      "thread i's warp.");
  m.def(
      "shuffle",
      [](const py::object& xf_obj, const py::object& xi_obj, Dim3 grid, Dim3 block, int src,
         unsigned delta, int lane_mask, int width, const std::string& schedule, uint64_t seed) {
        const Grid g = grid_arg(grid, block);
        const auto xf = float_input(xf_obj, "xf", g.n);
        const auto xi = int_input(xi_obj, "xi", g.n);
        py::array_t<float> out_f({static_cast<py::ssize_t>(g.n), py::ssize_t{4}});
        py::array_t<int32_t> out_i({static_cast<py::ssize_t>(g.n), py::ssize_t{4}});
        std::fill_n(out_f.mutable_data(), 4 * g.n, -1e30f);
        std::fill_n(out_i.mutable_data(), 4 * g.n, int32_t{-7});
        const auto s = parse_schedule(schedule, seed);
        {
          py::gil_scoped_release release;
          t::shuffle(out_f.mutable_data(), out_i.mutable_data(), xf.data(), xi.data(), src, delta,
                     lane_mask, width, grid, block, s);
        }
        return py::make_tuple(out_f, out_i);
      },
      py::arg("xf"), py::arg("xi"), py::arg("grid"), py::arg("block"), py::arg("src"),
      py::arg("delta"), py::arg("lane_mask"), py::arg("width") = 32,
      py::arg("schedule") = "forward", py::arg("seed") = 0,
      "(out_f, out_i), each (n, 4): __shfl_sync(src), __shfl_up_sync(delta), "
      "__shfl_down_sync(delta), __shfl_xor_sync(lane_mask) with the full mask and `width`.");
  m.def(
      "warp_shared_sum",
      [](const py::object& x_obj, Dim3 grid, Dim3 block, bool sync, const std::string& schedule,
         uint64_t seed) {
        const Grid g = grid_arg(grid, block);
        const auto x = float_input(x_obj, "x", g.n);
        auto out = fresh_output(g.n);
        const auto s = parse_schedule(schedule, seed);
        {
          py::gil_scoped_release release;
          t::warp_shared_sum(out.mutable_data(), x.data(), sync, grid, block, s);
        }
        return out;
      },
      py::arg("x"), py::arg("grid"), py::arg("block"), py::arg("sync"),
      py::arg("schedule") = "forward", py::arg("seed") = 0,
      "A warp sum through shared memory (lane 0 gets it), ordered by __syncwarp() or, "
      "sync=False, by nothing (lockstep assumed).");
  m.def(
      "warp_misuse",
      [](Dim3 grid, Dim3 block, int mode, const std::string& schedule, uint64_t seed) {
        const Grid g = grid_arg(grid, block);
        auto out = fresh_output(g.n);
        const auto s = parse_schedule(schedule, seed);
        {
          py::gil_scoped_release release;
          t::warp_misuse(out.mutable_data(), mode, grid, block, s);
        }
        return out;
      },
      py::arg("grid"), py::arg("block"), py::arg("mode"), py::arg("schedule") = "forward",
      py::arg("seed") = 0,
      "Warp primitive misuse by mode (see warp_misuse_kernel; 0 and 10 are correct). "
      "Returns 1 per thread that finished.");
  m.def(
      "dynamic_neighbour",
      [](const py::object& x_obj, Dim3 grid, Dim3 block, int64_t writer, size_t dynamic_bytes,
         const std::string& schedule, uint64_t seed) {
        const Grid g = grid_arg(grid, block);
        const auto x = float_input(x_obj, "x", g.n);
        auto out = fresh_output(g.n);
        const auto s = parse_schedule(schedule, seed);
        {
          py::gil_scoped_release release;
          t::dynamic_neighbour(out.mutable_data(), x.data(), writer, dynamic_bytes, grid, block, s);
        }
        return out;
      },
      py::arg("x"), py::arg("grid"), py::arg("block"), py::arg("writer"), py::arg("dynamic_bytes"),
      py::arg("schedule") = "forward", py::arg("seed") = 0,
      "out[i] = x[next thread of the block] through dynamic shared memory, written only by "
      "block `writer` (-1: by every block).");
  m.def(
      "static_and_dynamic",
      [](unsigned threads, size_t dynamic_bytes, const std::string& schedule, uint64_t seed) {
        if (threads == 0 || threads > 1024) throw py::value_error("threads must be in [1, 1024]");
        auto out = fresh_output(threads);
        const auto s = parse_schedule(schedule, seed);
        {
          py::gil_scoped_release release;
          t::static_and_dynamic(out.mutable_data(), dynamic_bytes, Dim3{threads, 1, 1}, s);
        }
        return out;
      },
      py::arg("threads"), py::arg("dynamic_bytes"), py::arg("schedule") = "forward",
      py::arg("seed") = 0,
      "A kernel with 32 KiB of static shared memory and `dynamic_bytes` of dynamic shared "
      "memory (one float per thread of each).");
}
