// Bindings of 2-D max / avg / L2 pooling (ops/pool2d.h). Arguments are validated before any
// pointer is used (bindings/pool2d_args.h: TypeError for a wrong type or dtype, ValueError for a
// shape, layout or geometry, naming the argument); outputs are fresh arrays and the GIL is
// released around the kernels. kernel_size, stride and padding are (h, w) pairs here; the Python
// layer (latentforge.functional / latentforge.ops) also takes ints and the default stride.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstdint>
#include <utility>

#include "bindings/array_check.h"
#include "bindings/device_args.h"
#include "bindings/pool2d_args.h"
#include "core/parallel.h"
#include "ops/pool2d.h"

namespace py = pybind11;

namespace {

using lf::PoolMode;
using lf::bind::cptr;

// y (and argmax in max mode) for x.
std::pair<py::array_t<float>, py::object> forward(PoolMode mode, const py::object& x_obj,
                                                  const py::object& kernel_size,
                                                  const py::object& stride,
                                                  const py::object& padding, bool naive) {
  const py::array x = lf::bind::pool_input(x_obj);
  const lf::Pool2dShape s = lf::bind::pool_geometry(x.shape(0), x.shape(1), x.shape(2), x.shape(3),
                                                    kernel_size, stride, padding);
  py::array_t<float> y(lf::bind::pool_out_shape(s));
  py::object argmax = py::none();
  int32_t* ap = nullptr;
  if (mode == PoolMode::max) {
    py::array_t<int32_t> a(lf::bind::pool_out_shape(s));
    ap = a.mutable_data();
    argmax = std::move(a);
  }
  float* yp = y.mutable_data();
  const float* xp = cptr<float>(x);
  const int nt = lf::num_threads();
  {
    py::gil_scoped_release release;
    if (naive) {
      lf::pool2d_forward_naive(yp, ap, xp, s, mode);
    } else {
      lf::pool2d_forward_cpu(yp, ap, xp, s, mode, nt);
    }
  }
  return {std::move(y), std::move(argmax)};
}

py::array backward(PoolMode mode, const py::object& dy, const py::object& argmax,
                   const py::object& x, const py::object& y, const py::object& input_hw,
                   const py::object& kernel_size, const py::object& stride,
                   const py::object& padding, bool naive) {
  const auto a =
      lf::bind::pool_backward_args(mode, dy, argmax, x, y, input_hw, kernel_size, stride, padding);
  py::array_t<float> dx(lf::bind::pool_in_shape(a.s));
  float* dxp = dx.mutable_data();
  const float* dyp = cptr<float>(a.dy);
  const int32_t* ap = mode == PoolMode::max ? cptr<int32_t>(a.argmax) : nullptr;
  const float* xp = mode == PoolMode::l2 ? cptr<float>(a.x) : nullptr;
  const float* yp = mode == PoolMode::l2 ? cptr<float>(a.y) : nullptr;
  const int nt = lf::num_threads();
  {
    py::gil_scoped_release release;
    if (naive) {
      lf::pool2d_backward_naive(dxp, dyp, ap, xp, yp, a.s, mode);
    } else {
      lf::pool2d_backward_cpu(dxp, dyp, ap, xp, yp, a.s, mode, nt);
    }
  }
  return dx;
}

int cuda_config(int config) {
  if (config < 0 || config >= lf::kPool2dCudaConfigs) {
    throw py::value_error("config must be in [0, " + std::to_string(lf::kPool2dCudaConfigs) +
                          "), got " + std::to_string(config));
  }
  return config;
}

py::tuple forward_cuda(const py::object& x_obj, const std::string& mode_name,
                       const py::object& kernel_size, const py::object& stride,
                       const py::object& padding, int config) {
  const PoolMode mode = lf::bind::pool_mode(mode_name);
  cuda_config(config);
  const py::array x = lf::bind::pool_input(x_obj);
  const lf::Pool2dShape s = lf::bind::pool_geometry(x.shape(0), x.shape(1), x.shape(2), x.shape(3),
                                                    kernel_size, stride, padding);
  py::array_t<float> y(lf::bind::pool_out_shape(s));
  py::object argmax = py::none();
  int32_t* ap = nullptr;
  if (mode == PoolMode::max) {
    py::array_t<int32_t> a(lf::bind::pool_out_shape(s));
    ap = a.mutable_data();
    argmax = std::move(a);
  }
  float* yp = y.mutable_data();
  const float* xp = cptr<float>(x);
  {
    py::gil_scoped_release release;
    lf::pool2d_forward_cuda_from_host(yp, ap, xp, s, mode, config);
  }
  return py::make_tuple(std::move(y), std::move(argmax));
}

py::array backward_cuda(const py::object& dy, const py::object& argmax, const py::object& x,
                        const py::object& y, const py::object& input_hw,
                        const std::string& mode_name, const py::object& kernel_size,
                        const py::object& stride, const py::object& padding, int config) {
  const PoolMode mode = lf::bind::pool_mode(mode_name);
  cuda_config(config);
  const auto a =
      lf::bind::pool_backward_args(mode, dy, argmax, x, y, input_hw, kernel_size, stride, padding);
  if (mode == PoolMode::max) lf::bind::pool_check_argmax(a.argmax, a.s);
  py::array_t<float> dx(lf::bind::pool_in_shape(a.s));
  float* dxp = dx.mutable_data();
  const float* dyp = cptr<float>(a.dy);
  const int32_t* ap = mode == PoolMode::max ? cptr<int32_t>(a.argmax) : nullptr;
  const float* xp = mode == PoolMode::l2 ? cptr<float>(a.x) : nullptr;
  const float* yp = mode == PoolMode::l2 ? cptr<float>(a.y) : nullptr;
  {
    py::gil_scoped_release release;
    lf::pool2d_backward_cuda_from_host(dxp, dyp, ap, xp, yp, a.s, mode, config);
  }
  return dx;
}

}  // namespace

void bind_pool2d(py::module_& m) {
  const auto none = py::none();
  m.def(
      "max_pool2d_forward",
      [](const py::object& x, const py::object& k, const py::object& s, const py::object& p,
         bool naive) {
        auto [y, argmax] = forward(PoolMode::max, x, k, s, p, naive);
        return py::make_tuple(std::move(y), std::move(argmax));
      },
      py::arg("x"), py::arg("kernel_size"), py::arg("stride"), py::arg("padding"),
      py::arg("naive") = false,
      "Max pooling of a float32 (N, C, H, W) C-contiguous array; kernel_size, stride, padding are "
      "(h, w) pairs (stride >= 1, 0 <= padding <= kernel_size // 2, padded positions are -inf). "
      "Returns (y, argmax): y (N, C, OH, OW) float32 and argmax int32 of the same shape, the flat "
      "index h*W + w in the input plane of the first maximum in row-major window order (a NaN in "
      "the window wins: y is NaN and argmax is its first NaN). naive=True: the reference loops.");
  m.def(
      "max_pool2d_backward",
      [none](const py::object& dy, const py::object& argmax, const py::object& input_hw,
             const py::object& k, const py::object& s, const py::object& p, bool naive) {
        return backward(PoolMode::max, dy, argmax, none, none, input_hw, k, s, p, naive);
      },
      py::arg("dy"), py::arg("argmax"), py::arg("input_hw"), py::arg("kernel_size"),
      py::arg("stride"), py::arg("padding"), py::arg("naive") = false,
      "dx (N, C, H, W) with input_hw = (H, W): dy routed to the argmax of max_pool2d_forward, "
      "summed in row-major output order where windows overlap (bitwise independent of the thread "
      "count). An argmax outside [0, H*W) raises ValueError.");
  m.def(
      "avg_pool2d_forward",
      [](const py::object& x, const py::object& k, const py::object& s, const py::object& p,
         bool naive) { return forward(PoolMode::avg, x, k, s, p, naive).first; },
      py::arg("x"), py::arg("kernel_size"), py::arg("stride"), py::arg("padding"),
      py::arg("naive") = false,
      "Average pooling (count_include_pad=True: the window sum over kh*kw, padding counting as "
      "zeros) of a float32 (N, C, H, W) array. naive=True: the reference (double sums).");
  m.def(
      "avg_pool2d_backward",
      [none](const py::object& dy, const py::object& input_hw, const py::object& k,
             const py::object& s, const py::object& p, bool naive) {
        return backward(PoolMode::avg, dy, none, none, none, input_hw, k, s, p, naive);
      },
      py::arg("dy"), py::arg("input_hw"), py::arg("kernel_size"), py::arg("stride"),
      py::arg("padding"), py::arg("naive") = false,
      "dx (N, C, H, W): every input of a window receives dy / (kh*kw), summed in row-major output "
      "order where windows overlap.");
  m.def(
      "l2_pool2d_forward",
      [](const py::object& x, const py::object& k, const py::object& s, const py::object& p,
         bool naive) { return forward(PoolMode::l2, x, k, s, p, naive).first; },
      py::arg("x"), py::arg("kernel_size"), py::arg("stride"), py::arg("padding"),
      py::arg("naive") = false,
      "L2 pooling y = sqrt(sum of x^2 over the window; padding contributes 0) of a float32 "
      "(N, C, H, W) array. naive=True: the reference (double sums).");
  m.def(
      "l2_pool2d_backward",
      [none](const py::object& dy, const py::object& x, const py::object& y, const py::object& k,
             const py::object& s, const py::object& p,
             bool naive) { return backward(PoolMode::l2, dy, none, x, y, none, k, s, p, naive); },
      py::arg("dy"), py::arg("x"), py::arg("y"), py::arg("kernel_size"), py::arg("stride"),
      py::arg("padding"), py::arg("naive") = false,
      "dx = sum over the windows covering each input of dy * x / y, with 0 where y == 0 (an "
      "all-zero window: gradient 0, never NaN); y is the forward output.");
  m.def("_pool2d_cuda_forward", &forward_cuda, py::arg("x"), py::arg("mode"),
        py::arg("kernel_size"), py::arg("stride"), py::arg("padding"), py::arg("config") = 0,
        "The CUDA pooling forward (mode 'max', 'avg' or 'l2') on the current device with copies "
        "to and from host arrays, launch configuration `config` in [0, 2) (RuntimeError without "
        "CUDA or without a device). Returns (y, argmax or None).");
  m.def("_pool2d_cuda_backward", &backward_cuda, py::arg("dy"), py::arg("argmax"), py::arg("x"),
        py::arg("y"), py::arg("input_hw"), py::arg("mode"), py::arg("kernel_size"),
        py::arg("stride"), py::arg("padding"), py::arg("config") = 0,
        "The CUDA pooling backward on host arrays (argmax for 'max', x and y for 'l2', None "
        "otherwise; input_hw is read for 'max' and 'avg'). Returns dx.");

  // Device pointers (bindings/device_args.h). Shape: (n, c, h, w, kh, kw, sh, sw, ph, pw),
  // validated by pool2d_shape; argmax (int32) is written by max mode only (0 otherwise).
  auto d = lf::bind::device_module(m);
  using u = std::uintptr_t;
  d.def(
      "pool2d_forward",
      [](int device, u stream, u y, u argmax, u x, std::array<int64_t, 10> g, int mode) {
        if (mode < 0 || mode > 2) throw py::value_error("mode must be 0 (max), 1 (avg) or 2 (l2)");
        const auto s = lf::pool2d_shape(g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9]);
        lf::bind::launch_on(device, stream, [&](void* st) {
          lf::pool2d_forward_cuda(lf::bind::dptr<float>(y), lf::bind::dptr<int32_t>(argmax),
                                  lf::bind::dptr<const float>(x), s,
                                  static_cast<lf::PoolMode>(mode), st);
        });
      },
      py::arg("device"), py::arg("stream"), py::arg("y"), py::arg("argmax"), py::arg("x"),
      py::arg("geometry"), py::arg("mode"));
  d.def(
      "pool2d_backward",
      [](int device, u stream, u dx, u dy, u argmax, u x, u y, std::array<int64_t, 10> g,
         int mode) {
        if (mode < 0 || mode > 2) throw py::value_error("mode must be 0 (max), 1 (avg) or 2 (l2)");
        const auto s = lf::pool2d_shape(g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9]);
        lf::bind::launch_on(device, stream, [&](void* st) {
          lf::pool2d_backward_cuda(lf::bind::dptr<float>(dx), lf::bind::dptr<const float>(dy),
                                   lf::bind::dptr<const int32_t>(argmax),
                                   lf::bind::dptr<const float>(x), lf::bind::dptr<const float>(y),
                                   s, static_cast<lf::PoolMode>(mode), st);
        });
      },
      py::arg("device"), py::arg("stream"), py::arg("dx"), py::arg("dy"), py::arg("argmax"),
      py::arg("x"), py::arg("y"), py::arg("geometry"), py::arg("mode"));
}
