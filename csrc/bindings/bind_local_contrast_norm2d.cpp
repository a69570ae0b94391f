// Bindings of local contrast normalisation (ops/local_contrast_norm2d.h). Arguments are validated
// before any pointer is used (bindings/local_contrast_norm2d_args.h: TypeError for a wrong type or
// dtype, ValueError for a shape, layout or value, naming the argument); outputs are fresh arrays
// and the GIL is released around the kernels.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <utility>

#include "bindings/array_check.h"
#include "bindings/device_args.h"
#include "bindings/local_contrast_norm2d_args.h"
#include "core/parallel.h"
#include "ops/local_contrast_norm2d.h"

namespace py = pybind11;

namespace {

using lf::bind::cptr;

int cuda_config(int config) {
  if (config < 0 || config >= lf::kLcnCudaConfigs) {
    throw py::value_error("config must be in [0, " + std::to_string(lf::kLcnCudaConfigs) +
                          "), got " + std::to_string(config));
  }
  return config;
}

// device: -1 the CPU kernels (naive or optimized), else the CUDA launch configuration.
py::tuple forward(const py::object& x_obj, const py::object& size, double sigma, double eps,
                  bool naive, int device) {
  const auto s = lf::bind::lcn_scalars(size, sigma, eps);
  const py::array x = lf::bind::lcn_input(x_obj);
  auto o = lf::bind::lcn_outputs(x);
  float *yp = o.y.mutable_data(), *mp = o.mean.mutable_data(), *sp = o.sigma.mutable_data(),
        *cp = o.c.mutable_data();
  const float* xp = cptr<float>(x);
  const int64_t N = x.shape(0), C = x.shape(1), H = x.shape(2), W = x.shape(3);
  const int nt = lf::num_threads();
  {
    py::gil_scoped_release release;
    if (device >= 0) {
      lf::local_contrast_norm2d_forward_cuda_from_host(yp, mp, sp, cp, xp, N, C, H, W, s.size,
                                                       s.sigma, s.eps, device);
    } else if (naive) {
      lf::local_contrast_norm2d_forward_naive(yp, mp, sp, cp, xp, N, C, H, W, s.size, s.sigma,
                                              s.eps);
    } else {
      lf::local_contrast_norm2d_forward_cpu(yp, mp, sp, cp, xp, N, C, H, W, s.size, s.sigma, s.eps,
                                            nt);
    }
  }
  return py::make_tuple(std::move(o.y), std::move(o.mean), std::move(o.sigma), std::move(o.c));
}

py::array backward(const py::object& dy, const py::object& x, const py::object& mean,
                   const py::object& sigma_map, const py::object& c, const py::object& size,
                   double sigma, double eps, bool naive, int device) {
  const auto s = lf::bind::lcn_scalars(size, sigma, eps);
  const auto a = lf::bind::lcn_backward_args(dy, x, mean, sigma_map, c);
  auto dx = lf::bind::empty_like<float>(a.x);
  float* dxp = dx.mutable_data();
  const float *dyp = cptr<float>(a.dy), *xp = cptr<float>(a.x), *mp = cptr<float>(a.mean),
              *sp = cptr<float>(a.sigma), *cp = cptr<float>(a.c);
  const int nt = lf::num_threads();
  {
    py::gil_scoped_release release;
    if (device >= 0) {
      lf::local_contrast_norm2d_backward_cuda_from_host(dxp, dyp, xp, mp, sp, cp, a.N, a.C, a.H,
                                                        a.W, s.size, s.sigma, s.eps, device);
    } else if (naive) {
      lf::local_contrast_norm2d_backward_naive(dxp, dyp, xp, mp, sp, cp, a.N, a.C, a.H, a.W, s.size,
                                               s.sigma, s.eps);
    } else {
      lf::local_contrast_norm2d_backward_cpu(dxp, dyp, xp, mp, sp, cp, a.N, a.C, a.H, a.W, s.size,
                                             s.sigma, s.eps, nt);
    }
  }
  return dx;
}

}  // namespace

void bind_local_contrast_norm2d(py::module_& m) {
  m.def(
      "local_contrast_norm2d_forward",
      [](const py::object& x, const py::object& size, double sigma, double eps, bool naive) {
        return forward(x, size, sigma, eps, naive, -1);
      },
      py::arg("x"), py::arg("size"), py::arg("sigma"), py::arg("eps"), py::arg("naive") = false,
      "Local contrast normalisation (Jarrett et al. 2009) of a float32 (N, C, H, W) C-contiguous "
      "array with a Gaussian window of odd side `size` and std `sigma` (pixels) spread across the "
      "maps, zero padding with the window renormalised at the border: y = v / max(c, sigma_xy, "
      "eps), v = x - local mean. Returns (y, mean (N, H, W), sigma_map (N, H, W), c (N,)). "
      "naive=True: the double reference loops.");
  m.def(
      "local_contrast_norm2d_backward",
      [](const py::object& dy, const py::object& x, const py::object& mean,
         const py::object& sigma_map, const py::object& c, const py::object& size, double sigma,
         double eps,
         bool naive) { return backward(dy, x, mean, sigma_map, c, size, sigma, eps, naive, -1); },
      py::arg("dy"), py::arg("x"), py::arg("mean"), py::arg("sigma_map"), py::arg("c"),
      py::arg("size"), py::arg("sigma"), py::arg("eps"), py::arg("naive") = false,
      "dx (N, C, H, W): the exact (sub)gradient of local_contrast_norm2d_forward at x given its "
      "saved (mean, sigma_map, c), including c's dependence on every sigma; ties of the max go to "
      "c, then sigma; 0 through sigma_xy == 0. naive=True: the double reference (recomputes the "
      "statistics from x).");
  m.def(
      "_local_contrast_norm2d_cuda_forward",
      [](const py::object& x, const py::object& size, double sigma, double eps, int config) {
        return forward(x, size, sigma, eps, false, cuda_config(config));
      },
      py::arg("x"), py::arg("size"), py::arg("sigma"), py::arg("eps"), py::arg("config") = 0,
      "The CUDA forward on the current device with copies to and from host arrays, launch "
      "configuration `config` in [0, 2) (RuntimeError without CUDA or without a device).");
  m.def(
      "_local_contrast_norm2d_cuda_backward",
      [](const py::object& dy, const py::object& x, const py::object& mean,
         const py::object& sigma_map, const py::object& c, const py::object& size, double sigma,
         double eps, int config) {
        return backward(dy, x, mean, sigma_map, c, size, sigma, eps, false, cuda_config(config));
      },
      py::arg("dy"), py::arg("x"), py::arg("mean"), py::arg("sigma_map"), py::arg("c"),
      py::arg("size"), py::arg("sigma"), py::arg("eps"), py::arg("config") = 0,
      "The CUDA backward on host arrays. Returns dx.");

  // Device pointers (bindings/device_args.h), launch configuration 0. Shape (N, C, H, W).
  auto d = lf::bind::device_module(m);
  using u = std::uintptr_t;
  using lf::bind::dptr;
  d.def(
      "local_contrast_norm2d_forward",
      [](int device, u stream, u y, u mean, u sigma_map, u c, u x, int64_t N, int64_t C, int64_t H,
         int64_t W, int64_t size, double sigma, double eps) {
        lf::bind::launch_on(device, stream, [&](void* s) {
          lf::local_contrast_norm2d_forward_cuda(
              dptr<float>(y), dptr<float>(mean), dptr<float>(sigma_map), dptr<float>(c),
              dptr<const float>(x), N, C, H, W, size, sigma, eps, 0, s);
        });
      },
      py::arg("device"), py::arg("stream"), py::arg("y"), py::arg("mean"), py::arg("sigma_map"),
      py::arg("c"), py::arg("x"), py::arg("N"), py::arg("C"), py::arg("H"), py::arg("W"),
      py::arg("size"), py::arg("sigma"), py::arg("eps"));
  d.def(
      "local_contrast_norm2d_backward",
      [](int device, u stream, u dx, u work, u dy, u x, u mean, u sigma_map, u c, int64_t N,
         int64_t C, int64_t H, int64_t W, int64_t size, double sigma, double eps) {
        lf::bind::launch_on(device, stream, [&](void* s) {
          lf::local_contrast_norm2d_backward_cuda(
              dptr<float>(dx), dptr<float>(work), dptr<const float>(dy), dptr<const float>(x),
              dptr<const float>(mean), dptr<const float>(sigma_map), dptr<const float>(c), N, C, H,
              W, size, sigma, eps, 0, s);
        });
      },
      py::arg("device"), py::arg("stream"), py::arg("dx"), py::arg("work"), py::arg("dy"),
      py::arg("x"), py::arg("mean"), py::arg("sigma_map"), py::arg("c"), py::arg("N"), py::arg("C"),
      py::arg("H"), py::arg("W"), py::arg("size"), py::arg("sigma"), py::arg("eps"));
}
