// Bindings of locally_connected2d (ops/locally_connected2d.h): forward, backward-data and
// backward-weights on float32 NCHW arrays, the naive references (naive=True) and the CUDA kernels
// on host arrays. Every argument is validated (bindings/locally_connected2d_args.h) before a
// pointer is touched; outputs are fresh arrays and the GIL is released around the kernels.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bindings/array_check.h"
#include "bindings/device_args.h"
#include "bindings/locally_connected2d_args.h"
#include "core/parallel.h"
#include "ops/locally_connected2d.h"

namespace py = pybind11;

namespace {

using lf::bind::kLcDy;
using lf::bind::kLcW;
using lf::bind::kLcX;
using lf::bind::Lc2dPair;
using lf::bind::Lc2dShape;

py::array_t<float> new_array(std::initializer_list<int64_t> shape) {
  std::vector<py::ssize_t> dims;
  for (const int64_t d : shape) dims.push_back(static_cast<py::ssize_t>(d));
  return py::array_t<float>(dims);
}

py::array lc2d_forward(const py::object& x_obj, const py::object& w_obj, const py::object& b_obj,
                       Lc2dPair stride, bool naive) {
  const auto x = lf::bind::array_arg<float>(x_obj, "x", 4, kLcX);
  const auto w = lf::bind::array_arg<float>(w_obj, "weight", 6, kLcW);
  const Lc2dShape s = lf::bind::lc2d_forward_shape(x, w, stride);
  py::array keep;
  const float* bias = lf::bind::lc2d_bias_arg(b_obj, s, &keep);
  auto y = new_array({s.N, s.C_out, s.OH, s.OW});
  float* yp = y.mutable_data();
  const float *xp = lf::bind::cptr<float>(x), *wp = lf::bind::cptr<float>(w);
  const int nt = lf::num_threads();
  {
    py::gil_scoped_release release;
    if (naive) {
      lf::locally_connected2d_forward_naive(yp, xp, wp, bias, s.N, s.C_in, s.H, s.W, s.C_out, s.kh,
                                            s.kw, s.sh, s.sw);
    } else {
      lf::locally_connected2d_forward_cpu(yp, xp, wp, bias, s.N, s.C_in, s.H, s.W, s.C_out, s.kh,
                                          s.kw, s.sh, s.sw, nt);
    }
  }
  return y;
}

py::array lc2d_backward_data(const py::object& dy_obj, const py::object& w_obj, Lc2dPair input_hw,
                             Lc2dPair stride, bool naive) {
  const auto dy = lf::bind::array_arg<float>(dy_obj, "dy", 4, kLcDy);
  const auto w = lf::bind::array_arg<float>(w_obj, "weight", 6, kLcW);
  const Lc2dShape s = lf::bind::lc2d_backward_data_shape(dy, w, input_hw, stride);
  auto dx = new_array({s.N, s.C_in, s.H, s.W});
  float* dxp = dx.mutable_data();
  const float *dyp = lf::bind::cptr<float>(dy), *wp = lf::bind::cptr<float>(w);
  const int nt = lf::num_threads();
  {
    py::gil_scoped_release release;
    if (naive) {
      lf::locally_connected2d_backward_data_naive(dxp, dyp, wp, s.N, s.C_in, s.H, s.W, s.C_out,
                                                  s.kh, s.kw, s.sh, s.sw);
    } else {
      lf::locally_connected2d_backward_data_cpu(dxp, dyp, wp, s.N, s.C_in, s.H, s.W, s.C_out, s.kh,
                                                s.kw, s.sh, s.sw, nt);
    }
  }
  return dx;
}

py::tuple lc2d_backward_weights(const py::object& dy_obj, const py::object& x_obj,
                                Lc2dPair kernel_hw, Lc2dPair stride, bool bias, bool naive) {
  const auto dy = lf::bind::array_arg<float>(dy_obj, "dy", 4, kLcDy);
  const auto x = lf::bind::array_arg<float>(x_obj, "x", 4, kLcX);
  const Lc2dShape s = lf::bind::lc2d_backward_weights_shape(dy, x, kernel_hw, stride);
  auto dw = py::array_t<float>(std::vector<py::ssize_t>{s.OH, s.OW, s.C_out, s.C_in, s.kh, s.kw});
  std::optional<py::array_t<float>> db;
  if (bias) db.emplace(new_array({s.C_out, s.OH, s.OW}));
  float* dwp = dw.mutable_data();
  float* dbp = db ? db->mutable_data() : nullptr;
  const float *dyp = lf::bind::cptr<float>(dy), *xp = lf::bind::cptr<float>(x);
  const int nt = lf::num_threads();
  {
    py::gil_scoped_release release;
    if (naive) {
      lf::locally_connected2d_backward_weights_naive(dwp, dbp, dyp, xp, s.N, s.C_in, s.H, s.W,
                                                     s.C_out, s.kh, s.kw, s.sh, s.sw);
    } else {
      lf::locally_connected2d_backward_weights_cpu(dwp, dbp, dyp, xp, s.N, s.C_in, s.H, s.W,
                                                   s.C_out, s.kh, s.kw, s.sh, s.sw, nt);
    }
  }
  return py::make_tuple(std::move(dw), db ? py::object(std::move(*db)) : py::object(py::none()));
}

// The CUDA kernels on host arrays (copies to and from the current device): same checks.
py::object lc2d_cuda(int pass, const py::object& a_obj, const py::object& b_obj,
                     const py::object& c_obj, Lc2dPair hw, Lc2dPair stride, bool bias) {
  if (pass == 0) {
    const auto x = lf::bind::array_arg<float>(a_obj, "x", 4, kLcX);
    const auto w = lf::bind::array_arg<float>(b_obj, "weight", 6, kLcW);
    const Lc2dShape s = lf::bind::lc2d_forward_shape(x, w, stride);
    py::array keep;
    const float* bp = lf::bind::lc2d_bias_arg(c_obj, s, &keep);
    auto y = new_array({s.N, s.C_out, s.OH, s.OW});
    float* yp = y.mutable_data();
    {
      py::gil_scoped_release release;
      lf::locally_connected2d_cuda_from_host(0, yp, nullptr, lf::bind::cptr<float>(x),
                                             lf::bind::cptr<float>(w), bp, s.N, s.C_in, s.H, s.W,
                                             s.C_out, s.kh, s.kw, s.sh, s.sw);
    }
    return y;
  }
  if (pass == 1) {
    const auto dy = lf::bind::array_arg<float>(a_obj, "dy", 4, kLcDy);
    const auto w = lf::bind::array_arg<float>(b_obj, "weight", 6, kLcW);
    const Lc2dShape s = lf::bind::lc2d_backward_data_shape(dy, w, hw, stride);
    auto dx = new_array({s.N, s.C_in, s.H, s.W});
    float* dxp = dx.mutable_data();
    {
      py::gil_scoped_release release;
      lf::locally_connected2d_cuda_from_host(1, dxp, nullptr, lf::bind::cptr<float>(dy),
                                             lf::bind::cptr<float>(w), nullptr, s.N, s.C_in, s.H,
                                             s.W, s.C_out, s.kh, s.kw, s.sh, s.sw);
    }
    return dx;
  }
  if (pass != 2) throw py::value_error("pass must be 0, 1 or 2, got " + std::to_string(pass));
  const auto dy = lf::bind::array_arg<float>(a_obj, "dy", 4, kLcDy);
  const auto x = lf::bind::array_arg<float>(b_obj, "x", 4, kLcX);
  const Lc2dShape s = lf::bind::lc2d_backward_weights_shape(dy, x, hw, stride);
  auto dw = py::array_t<float>(std::vector<py::ssize_t>{s.OH, s.OW, s.C_out, s.C_in, s.kh, s.kw});
  auto db = new_array({s.C_out, s.OH, s.OW});
  float *dwp = dw.mutable_data(), *dbp = bias ? db.mutable_data() : nullptr;
  {
    py::gil_scoped_release release;
    lf::locally_connected2d_cuda_from_host(2, dwp, dbp, lf::bind::cptr<float>(dy),
                                           lf::bind::cptr<float>(x), nullptr, s.N, s.C_in, s.H, s.W,
                                           s.C_out, s.kh, s.kw, s.sh, s.sw);
  }
  return py::make_tuple(std::move(dw), bias ? py::object(std::move(db)) : py::object(py::none()));
}

}  // namespace

void bind_locally_connected2d(py::module_& m) {
  const Lc2dPair one{1, 1}, zero{0, 0};
  m.def("locally_connected2d_forward", &lc2d_forward, py::arg("x"), py::arg("weight"),
        py::arg("bias") = py::none(), py::arg("stride") = one, py::arg("naive") = false,
        "y (N, C_out, OH, OW) of the locally connected layer (untied weights, no padding) on "
        "float32 arrays: x (N, C_in, H, W), weight (OH, OW, C_out, C_in, kh, kw), bias (C_out, "
        "OH, OW) or None. naive=True runs the loop reference (double sums).");
  m.def("locally_connected2d_backward_data", &lc2d_backward_data, py::arg("dy"), py::arg("weight"),
        py::arg("input_hw"), py::arg("stride") = one, py::arg("naive") = false,
        "dx (N, C_in, H, W) of locally_connected2d from dy (N, C_out, OH, OW); input_hw = (H, W).");
  m.def("locally_connected2d_backward_weights", &lc2d_backward_weights, py::arg("dy"), py::arg("x"),
        py::arg("kernel_hw"), py::arg("stride") = one, py::arg("bias") = true,
        py::arg("naive") = false,
        "(dw, db) of locally_connected2d: dw (OH, OW, C_out, C_in, kh, kw) and db (C_out, OH, OW) "
        "= sum of dy over N (None when bias=False); kernel_hw = (kh, kw).");
  m.def("_locally_connected2d_cuda", &lc2d_cuda, py::arg("pass_"), py::arg("a"), py::arg("b"),
        py::arg("c") = py::none(), py::arg("hw") = zero, py::arg("stride") = one,
        py::arg("bias") = true,
        "The CUDA locally connected kernels on the current device with copies to and from host "
        "arrays (RuntimeError without CUDA or a device). pass_ 0: forward(a=x, b=weight, "
        "c=bias); 1: backward_data(a=dy, b=weight, hw=input_hw); 2: backward_weights(a=dy, b=x, "
        "hw=kernel_hw, bias) -> (dw, db or None).");

  // Device pointers (bindings/device_args.h). Geometry: (N, C_in, H, W, C_out, kh, kw, sh, sw).
  auto d = lf::bind::device_module(m);
  using u = std::uintptr_t;
  using G = std::array<int64_t, 9>;
  using lf::bind::dptr;
  d.def(
      "locally_connected2d_forward",
      [](int device, u stream, u y, u x, u w, u bias, G g) {
        lf::bind::launch_on(device, stream, [&](void* s) {
          lf::locally_connected2d_forward_cuda(dptr<float>(y), dptr<const float>(x),
                                               dptr<const float>(w), dptr<const float>(bias), g[0],
                                               g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], s);
        });
      },
      py::arg("device"), py::arg("stream"), py::arg("y"), py::arg("x"), py::arg("weight"),
      py::arg("bias"), py::arg("geometry"));
  d.def(
      "locally_connected2d_backward_data",
      [](int device, u stream, u dx, u dy, u w, G g) {
        lf::bind::launch_on(device, stream, [&](void* s) {
          lf::locally_connected2d_backward_data_cuda(dptr<float>(dx), dptr<const float>(dy),
                                                     dptr<const float>(w), g[0], g[1], g[2], g[3],
                                                     g[4], g[5], g[6], g[7], g[8], s);
        });
      },
      py::arg("device"), py::arg("stream"), py::arg("dx"), py::arg("dy"), py::arg("weight"),
      py::arg("geometry"));
  d.def(
      "locally_connected2d_backward_weights",
      [](int device, u stream, u dw, u db, u dy, u x, G g) {
        lf::bind::launch_on(device, stream, [&](void* s) {
          lf::locally_connected2d_backward_weights_cuda(
              dptr<float>(dw), dptr<float>(db), dptr<const float>(dy), dptr<const float>(x), g[0],
              g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], s);
        });
      },
      py::arg("device"), py::arg("stream"), py::arg("dw"), py::arg("db"), py::arg("dy"),
      py::arg("x"), py::arg("geometry"));
}
