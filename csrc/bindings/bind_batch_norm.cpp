// Bindings of batch normalisation (ops/batch_norm.h). Inputs are validated before any pointer is
// used (bindings/batch_norm_args.h over array_check.h: TypeError for a non-array or a wrong dtype,
// ValueError for shapes, layout, values and aliasing); outputs are fresh arrays except the
// running statistics, updated in place; the GIL is released around the kernels.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "bindings/array_check.h"
#include "bindings/batch_norm_args.h"
#include "bindings/device_args.h"
#include "core/parallel.h"
#include "ops/batch_norm.h"

namespace py = pybind11;

namespace {

using lf::bind::BatchNormBackwardArgs;
using lf::bind::BatchNormTrainArgs;

py::array_t<float> channel_vector(int64_t C) {
  return py::array_t<float>(static_cast<py::ssize_t>(C));
}

py::tuple forward_train(const py::object& x, const py::object& gamma, const py::object& beta,
                        const py::object& running_mean, const py::object& running_var,
                        double momentum, double eps, bool naive) {
  const BatchNormTrainArgs a =
      lf::bind::batch_norm_train_args(x, gamma, beta, running_mean, running_var, momentum, eps);
  auto y = lf::bind::empty_like<float>(a.x.a);
  auto mean = channel_vector(a.x.C), invstd = channel_vector(a.x.C);
  float *yp = y.mutable_data(), *mp = mean.mutable_data(), *ip = invstd.mutable_data();
  const float* xp = lf::bind::cptr<float>(a.x.a);
  const int nt = lf::num_threads();
  {
    py::gil_scoped_release release;
    if (naive) {
      lf::batch_norm_forward_train_naive(yp, mp, ip, a.running_mean, a.running_var, xp, a.gamma,
                                         a.beta, a.x.N, a.x.C, a.x.HW, a.momentum, a.eps);
    } else {
      lf::batch_norm_forward_train_cpu(yp, mp, ip, a.running_mean, a.running_var, xp, a.gamma,
                                       a.beta, a.x.N, a.x.C, a.x.HW, a.momentum, a.eps, nt);
    }
  }
  return py::make_tuple(std::move(y), std::move(mean), std::move(invstd));
}

py::tuple backward(const py::object& dy, const py::object& x, const py::object& mean,
                   const py::object& invstd, const py::object& gamma, bool training, bool naive) {
  const BatchNormBackwardArgs a =
      lf::bind::batch_norm_backward_args(dy, x, mean, invstd, gamma, training);
  auto dx = lf::bind::empty_like<float>(a.x.a);
  auto dgamma = channel_vector(a.x.C), dbeta = channel_vector(a.x.C);
  float *dxp = dx.mutable_data(), *gp = dgamma.mutable_data(), *bp = dbeta.mutable_data();
  const float* dyp = lf::bind::cptr<float>(a.dy);
  const float* xp = lf::bind::cptr<float>(a.x.a);
  const int nt = lf::num_threads();
  {
    py::gil_scoped_release release;
    if (naive) {
      lf::batch_norm_backward_naive(dxp, gp, bp, dyp, xp, a.mean, a.invstd, a.gamma, a.x.N, a.x.C,
                                    a.x.HW, training);
    } else {
      lf::batch_norm_backward_cpu(dxp, gp, bp, dyp, xp, a.mean, a.invstd, a.gamma, a.x.N, a.x.C,
                                  a.x.HW, training, nt);
    }
  }
  return py::make_tuple(std::move(dx), std::move(dgamma), std::move(dbeta));
}

py::array forward_eval(const py::object& x_obj, const py::object& gamma, const py::object& beta,
                       const py::object& mean, const py::object& var, double eps) {
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
  const int nt = lf::num_threads();
  {
    py::gil_scoped_release release;
    lf::batch_norm_forward_eval_cpu(yp, xp, g, b, m, v, x.N, x.C, x.HW, eps, nt);
  }
  return y;
}

py::array invstd(const py::object& var, double eps) {
  const py::array v = lf::bind::array_arg<float>(var, "var", 1, "(C,)");
  eps = lf::bind::batch_norm_eps(eps);
  auto out = lf::bind::empty_like<float>(v);
  lf::batch_norm_invstd(out.mutable_data(), lf::bind::cptr<float>(v), v.shape(0), eps);
  return out;
}

// ---- the CUDA kernels on host arrays (RuntimeError without CUDA or without a device)
int cuda_config(int config) {
  if (config < 0 || config >= lf::kBatchNormCudaConfigs) {
    throw py::value_error("config must be in [0, " + std::to_string(lf::kBatchNormCudaConfigs) +
                          "), got " + std::to_string(config));
  }
  return config;
}

py::tuple forward_train_cuda(const py::object& x, const py::object& gamma, const py::object& beta,
                             const py::object& running_mean, const py::object& running_var,
                             double momentum, double eps, int config) {
  config = cuda_config(config);
  const BatchNormTrainArgs a =
      lf::bind::batch_norm_train_args(x, gamma, beta, running_mean, running_var, momentum, eps);
  auto y = lf::bind::empty_like<float>(a.x.a);
  auto mean = channel_vector(a.x.C), invstd = channel_vector(a.x.C);
  float *yp = y.mutable_data(), *mp = mean.mutable_data(), *ip = invstd.mutable_data();
  const float* xp = lf::bind::cptr<float>(a.x.a);
  {
    py::gil_scoped_release release;
    lf::batch_norm_forward_train_cuda_from_host(yp, mp, ip, a.running_mean, a.running_var, xp,
                                                a.gamma, a.beta, a.x.N, a.x.C, a.x.HW, a.momentum,
                                                a.eps, config);
  }
  return py::make_tuple(std::move(y), std::move(mean), std::move(invstd));
}

py::tuple backward_cuda(const py::object& dy, const py::object& x, const py::object& mean,
                        const py::object& invstd, const py::object& gamma, bool training,
                        int config) {
  config = cuda_config(config);
  const BatchNormBackwardArgs a =
      lf::bind::batch_norm_backward_args(dy, x, mean, invstd, gamma, training);
  auto dx = lf::bind::empty_like<float>(a.x.a);
  auto dgamma = channel_vector(a.x.C), dbeta = channel_vector(a.x.C);
  float *dxp = dx.mutable_data(), *gp = dgamma.mutable_data(), *bp = dbeta.mutable_data();
  const float* dyp = lf::bind::cptr<float>(a.dy);
  const float* xp = lf::bind::cptr<float>(a.x.a);
  {
    py::gil_scoped_release release;
    lf::batch_norm_backward_cuda_from_host(dxp, gp, bp, dyp, xp, a.mean, a.invstd, a.gamma, a.x.N,
                                           a.x.C, a.x.HW, training, config);
  }
  return py::make_tuple(std::move(dx), std::move(dgamma), std::move(dbeta));
}

py::array forward_eval_cuda(const py::object& x_obj, const py::object& gamma,
                            const py::object& beta, const py::object& mean, const py::object& var,
                            double eps, int config) {
  config = cuda_config(config);
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
    lf::batch_norm_forward_eval_cuda_from_host(yp, xp, g, b, m, v, x.N, x.C, x.HW, eps, config);
  }
  return y;
}

}  // namespace

void bind_batch_norm(py::module_& m) {
  m.def("batch_norm_forward_train", &forward_train, py::arg("x"), py::arg("gamma"), py::arg("beta"),
        py::arg("running_mean"), py::arg("running_var"), py::arg("momentum"), py::arg("eps"),
        py::arg("naive") = false,
        "Training batch norm of a float32 C-contiguous x, 2-D (N, C) or 4-D (N, C, H, W), per "
        "channel over N (and H, W). gamma / beta: None or (C,) float32. running_mean / "
        "running_var: None or writable (C,) float32 arrays updated in place with momentum "
        "(running = (1 - momentum) * running + momentum * stat, the unbiased variance for "
        "running_var). Returns (y, mean, invstd). naive=True: the double-precision reference.");
  m.def(
      "batch_norm_backward_train",
      [](const py::object& dy, const py::object& x, const py::object& mean,
         const py::object& invstd, const py::object& gamma,
         bool naive) { return backward(dy, x, mean, invstd, gamma, /*training=*/true, naive); },
      py::arg("dy"), py::arg("x"), py::arg("mean"), py::arg("invstd"), py::arg("gamma"),
      py::arg("naive") = false,
      "Backward of batch_norm_forward_train given its saved mean / invstd: returns (dx, dgamma, "
      "dbeta); gamma None means 1.");
  m.def(
      "batch_norm_backward_eval",
      [](const py::object& dy, const py::object& x, const py::object& mean,
         const py::object& invstd, const py::object& gamma,
         bool naive) { return backward(dy, x, mean, invstd, gamma, /*training=*/false, naive); },
      py::arg("dy"), py::arg("x"), py::arg("mean"), py::arg("invstd"), py::arg("gamma"),
      py::arg("naive") = false,
      "Backward of the evaluation forward (constant mean / invstd, e.g. batch_norm_invstd(var, "
      "eps)): returns (dx = dy * gamma * invstd, dgamma, dbeta).");
  m.def("batch_norm_forward_eval", &forward_eval, py::arg("x"), py::arg("gamma"), py::arg("beta"),
        py::arg("mean"), py::arg("var"), py::arg("eps"),
        "Evaluation batch norm: y = (x - mean) / sqrt(var + eps) * gamma + beta with given (C,) "
        "float32 statistics.");
  m.def("batch_norm_invstd", &invstd, py::arg("var"), py::arg("eps"),
        "float32(1 / sqrt(float64(var) + eps)): the scale batch_norm_forward_eval uses.");
  m.def("_batch_norm_forward_train_cuda", &forward_train_cuda, py::arg("x"), py::arg("gamma"),
        py::arg("beta"), py::arg("running_mean"), py::arg("running_var"), py::arg("momentum"),
        py::arg("eps"), py::arg("config") = 0,
        "batch_norm_forward_train on the GPU (host arrays in and out).");
  m.def("_batch_norm_backward_cuda", &backward_cuda, py::arg("dy"), py::arg("x"), py::arg("mean"),
        py::arg("invstd"), py::arg("gamma"), py::arg("training"), py::arg("config") = 0,
        "batch_norm_backward_train (training=True) / _eval on the GPU (host arrays).");
  m.def("_batch_norm_forward_eval_cuda", &forward_eval_cuda, py::arg("x"), py::arg("gamma"),
        py::arg("beta"), py::arg("mean"), py::arg("var"), py::arg("eps"), py::arg("config") = 0,
        "batch_norm_forward_eval on the GPU (host arrays in and out).");
  m.def(
      "_batch_norm_cuda_num_configs", [] { return lf::kBatchNormCudaConfigs; },
      "Number of launch configurations (block sizes) of the CUDA batch-norm kernels.");

  // Device pointers (bindings/device_args.h), launch configuration 0. Shapes (N, C, HW).
  auto d = lf::bind::device_module(m);
  using u = std::uintptr_t;
  using lf::bind::dptr;
  d.def(
      "batch_norm_forward_train",
      [](int device, u stream, u y, u mean, u invstd, u running_mean, u running_var, u x, u gamma,
         u beta, int64_t N, int64_t C, int64_t HW, double momentum, double eps) {
        lf::bind::launch_on(device, stream, [&](void* s) {
          lf::batch_norm_forward_train_cuda(dptr<float>(y), dptr<float>(mean), dptr<float>(invstd),
                                            dptr<float>(running_mean), dptr<float>(running_var),
                                            dptr<const float>(x), dptr<const float>(gamma),
                                            dptr<const float>(beta), N, C, HW, momentum, eps, 0, s);
        });
      },
      py::arg("device"), py::arg("stream"), py::arg("y"), py::arg("mean"), py::arg("invstd"),
      py::arg("running_mean"), py::arg("running_var"), py::arg("x"), py::arg("gamma"),
      py::arg("beta"), py::arg("N"), py::arg("C"), py::arg("HW"), py::arg("momentum"),
      py::arg("eps"));
  d.def(
      "batch_norm_backward",
      [](int device, u stream, u dx, u dgamma, u dbeta, u dy, u x, u mean, u invstd, u gamma,
         int64_t N, int64_t C, int64_t HW, bool training) {
        lf::bind::launch_on(device, stream, [&](void* s) {
          lf::batch_norm_backward_cuda(dptr<float>(dx), dptr<float>(dgamma), dptr<float>(dbeta),
                                       dptr<const float>(dy), dptr<const float>(x),
                                       dptr<const float>(mean), dptr<const float>(invstd),
                                       dptr<const float>(gamma), N, C, HW, training, 0, s);
        });
      },
      py::arg("device"), py::arg("stream"), py::arg("dx"), py::arg("dgamma"), py::arg("dbeta"),
      py::arg("dy"), py::arg("x"), py::arg("mean"), py::arg("invstd"), py::arg("gamma"),
      py::arg("N"), py::arg("C"), py::arg("HW"), py::arg("training"));
  d.def(
      "batch_norm_forward_eval",
      [](int device, u stream, u y, u x, u gamma, u beta, u mean, u var, int64_t N, int64_t C,
         int64_t HW, double eps) {
        lf::bind::launch_on(device, stream, [&](void* s) {
          lf::batch_norm_forward_eval_cuda(dptr<float>(y), dptr<const float>(x),
                                           dptr<const float>(gamma), dptr<const float>(beta),
                                           dptr<const float>(mean), dptr<const float>(var), N, C,
                                           HW, eps, 0, s);
        });
      },
      py::arg("device"), py::arg("stream"), py::arg("y"), py::arg("x"), py::arg("gamma"),
      py::arg("beta"), py::arg("mean"), py::arg("var"), py::arg("N"), py::arg("C"), py::arg("HW"),
      py::arg("eps"));
}
