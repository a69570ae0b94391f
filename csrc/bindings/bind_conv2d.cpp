// Bindings of conv2d (ops/conv2d.h): forward, backward-data and backward-weights on float32 NCHW
// arrays, the naive references (naive=True) and the CUDA kernels on host arrays. Every argument
// is validated (bindings/array_check.h for the arrays, conv2d_check_args for the geometry) before
// a pointer is touched; outputs are fresh arrays and the GIL is released around the kernels.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "bindings/array_check.h"
#include "bindings/device_args.h"
#include "bindings/sigint.h"
#include "core/parallel.h"
#include "ops/conv2d.h"

namespace py = pybind11;

namespace {

using Pair = std::array<int64_t, 2>;

constexpr const char* kX = "(N, C_in, H, W)";
constexpr const char* kW = "(C_out, C_in, kh, kw)";
constexpr const char* kDy = "(N, C_out, OH, OW)";

struct Shape {
  int64_t N, C_in, H, W, C_out, kh, kw, sh, sw, ph, pw, OH, OW;
};

Shape make_shape(int64_t N, int64_t C_in, int64_t H, int64_t W, int64_t C_out, int64_t kh,
                 int64_t kw, Pair stride, Pair padding) {
  const lf::Conv2dGeometry g = lf::conv2d_check_args(N, C_in, H, W, C_out, kh, kw, stride[0],
                                                     stride[1], padding[0], padding[1]);
  return {N, C_in, H, W, C_out, kh, kw, stride[0], stride[1], padding[0], padding[1], g.OH, g.OW};
}

std::string pair_str(int64_t a, int64_t b) {
  return "(" + std::to_string(a) + ", " + std::to_string(b) + ")";
}

void require_channels(int64_t got, const char* what, int64_t want, const char* of) {
  if (got != want) {
    throw py::value_error(std::string(what) + " has " + std::to_string(got) + " channels but " +
                          of + " expects " + std::to_string(want));
  }
}

void require_dy(const py::array& dy, const Shape& s) {
  if (dy.shape(0) != s.N || dy.shape(1) != s.C_out || dy.shape(2) != s.OH || dy.shape(3) != s.OW) {
    throw py::value_error("dy must have shape (" + std::to_string(s.N) + ", " +
                          std::to_string(s.C_out) + ", " + std::to_string(s.OH) + ", " +
                          std::to_string(s.OW) + ") (the forward output's), got " +
                          lf::bind::shape_str(dy));
  }
}

// Ctrl-C can stop a large call between GEMM blocks (below ~1 ms of work it is not worth it).
bool worth_sigint(const Shape& s) {
  const double flops = 2.0 * s.N * s.C_out * s.OH * s.OW * s.C_in * s.kh * s.kw;
  return flops >= 1 << 26;
}

template <class T>
py::array_t<float> new4(T a, T b, T c, T d) {
  return py::array_t<float>(
      std::vector<py::ssize_t>{static_cast<py::ssize_t>(a), static_cast<py::ssize_t>(b),
                               static_cast<py::ssize_t>(c), static_cast<py::ssize_t>(d)});
}

const float* bias_arg(const py::object& obj, int64_t C_out, py::array* keep) {
  if (obj.is_none()) return nullptr;
  *keep = lf::bind::array_arg<float>(obj, "bias", 1, "(C_out,)");
  if (keep->shape(0) != C_out) {
    throw py::value_error("bias must have shape (" + std::to_string(C_out) +
                          ",) (one per output channel of weight), got " +
                          lf::bind::shape_str(*keep));
  }
  return lf::bind::cptr<float>(*keep);
}

py::array conv2d_forward(const py::object& x_obj, const py::object& w_obj, const py::object& b_obj,
                         Pair stride, Pair padding, bool naive) {
  const auto x = lf::bind::array_arg<float>(x_obj, "x", 4, kX);
  const auto w = lf::bind::array_arg<float>(w_obj, "weight", 4, kW);
  require_channels(x.shape(1), "x", w.shape(1),
                   ("weight of shape " + lf::bind::shape_str(w)).c_str());
  const Shape s = make_shape(x.shape(0), x.shape(1), x.shape(2), x.shape(3), w.shape(0), w.shape(2),
                             w.shape(3), stride, padding);
  py::array keep;
  const float* bias = bias_arg(b_obj, s.C_out, &keep);
  auto y = new4(s.N, s.C_out, s.OH, s.OW);
  float* yp = y.mutable_data();
  const float *xp = lf::bind::cptr<float>(x), *wp = lf::bind::cptr<float>(w);
  const int nt = lf::num_threads();
  std::optional<lf::bind::SigintScope> sigint;
  if (worth_sigint(s)) sigint.emplace();
  {
    py::gil_scoped_release release;
    if (naive) {
      lf::conv2d_forward_naive(yp, xp, wp, bias, s.N, s.C_in, s.H, s.W, s.C_out, s.kh, s.kw, s.sh,
                               s.sw, s.ph, s.pw);
    } else {
      lf::conv2d_forward_cpu(yp, xp, wp, bias, s.N, s.C_in, s.H, s.W, s.C_out, s.kh, s.kw, s.sh,
                             s.sw, s.ph, s.pw, nt);
    }
  }
  if (sigint) sigint->throw_if_interrupted();
  return y;
}

py::array conv2d_backward_data(const py::object& dy_obj, const py::object& w_obj, Pair input_hw,
                               Pair stride, Pair padding, bool naive) {
  const auto dy = lf::bind::array_arg<float>(dy_obj, "dy", 4, kDy);
  const auto w = lf::bind::array_arg<float>(w_obj, "weight", 4, kW);
  require_channels(dy.shape(1), "dy", w.shape(0),
                   ("weight of shape " + lf::bind::shape_str(w) + " (C_out first)").c_str());
  if (input_hw[0] < 0 || input_hw[1] < 0) {
    throw py::value_error("input_hw must be >= 0, got " + pair_str(input_hw[0], input_hw[1]));
  }
  const Shape s = make_shape(dy.shape(0), w.shape(1), input_hw[0], input_hw[1], w.shape(0),
                             w.shape(2), w.shape(3), stride, padding);
  require_dy(dy, s);
  auto dx = new4(s.N, s.C_in, s.H, s.W);
  float* dxp = dx.mutable_data();
  const float *dyp = lf::bind::cptr<float>(dy), *wp = lf::bind::cptr<float>(w);
  const int nt = lf::num_threads();
  std::optional<lf::bind::SigintScope> sigint;
  if (worth_sigint(s)) sigint.emplace();
  {
    py::gil_scoped_release release;
    if (naive) {
      lf::conv2d_backward_data_naive(dxp, dyp, wp, s.N, s.C_in, s.H, s.W, s.C_out, s.kh, s.kw, s.sh,
                                     s.sw, s.ph, s.pw);
    } else {
      lf::conv2d_backward_data_cpu(dxp, dyp, wp, s.N, s.C_in, s.H, s.W, s.C_out, s.kh, s.kw, s.sh,
                                   s.sw, s.ph, s.pw, nt);
    }
  }
  if (sigint) sigint->throw_if_interrupted();
  return dx;
}

py::tuple conv2d_backward_weights(const py::object& dy_obj, const py::object& x_obj, Pair kernel_hw,
                                  Pair stride, Pair padding, bool bias, bool naive) {
  const auto dy = lf::bind::array_arg<float>(dy_obj, "dy", 4, kDy);
  const auto x = lf::bind::array_arg<float>(x_obj, "x", 4, kX);
  if (dy.shape(0) != x.shape(0)) {
    throw py::value_error("dy and x must have the same batch size, got " + lf::bind::shape_str(dy) +
                          " and " + lf::bind::shape_str(x));
  }
  if (kernel_hw[0] < 1 || kernel_hw[1] < 1) {
    throw py::value_error("kernel_hw must be >= 1, got " + pair_str(kernel_hw[0], kernel_hw[1]));
  }
  const Shape s = make_shape(x.shape(0), x.shape(1), x.shape(2), x.shape(3), dy.shape(1),
                             kernel_hw[0], kernel_hw[1], stride, padding);
  require_dy(dy, s);
  auto dw = new4(s.C_out, s.C_in, s.kh, s.kw);
  std::optional<py::array_t<float>> db;
  if (bias) db.emplace(std::vector<py::ssize_t>{static_cast<py::ssize_t>(s.C_out)});
  float* dwp = dw.mutable_data();
  float* dbp = db ? db->mutable_data() : nullptr;
  const float *dyp = lf::bind::cptr<float>(dy), *xp = lf::bind::cptr<float>(x);
  const int nt = lf::num_threads();
  std::optional<lf::bind::SigintScope> sigint;
  if (worth_sigint(s)) sigint.emplace();
  {
    py::gil_scoped_release release;
    if (naive) {
      lf::conv2d_backward_weights_naive(dwp, dbp, dyp, xp, s.N, s.C_in, s.H, s.W, s.C_out, s.kh,
                                        s.kw, s.sh, s.sw, s.ph, s.pw);
    } else {
      lf::conv2d_backward_weights_cpu(dwp, dbp, dyp, xp, s.N, s.C_in, s.H, s.W, s.C_out, s.kh, s.kw,
                                      s.sh, s.sw, s.ph, s.pw, nt);
    }
  }
  if (sigint) sigint->throw_if_interrupted();
  return py::make_tuple(std::move(dw), db ? py::object(std::move(*db)) : py::object(py::none()));
}

// The CUDA kernels on host arrays (copies to and from the current device): same checks.
py::object conv2d_cuda(int pass, const py::object& a_obj, const py::object& b_obj,
                       const py::object& c_obj, Pair hw, Pair stride, Pair padding, bool bias) {
  if (pass == 0) {
    const auto x = lf::bind::array_arg<float>(a_obj, "x", 4, kX);
    const auto w = lf::bind::array_arg<float>(b_obj, "weight", 4, kW);
    require_channels(x.shape(1), "x", w.shape(1), "weight");
    const Shape s = make_shape(x.shape(0), x.shape(1), x.shape(2), x.shape(3), w.shape(0),
                               w.shape(2), w.shape(3), stride, padding);
    py::array keep;
    const float* bp = bias_arg(c_obj, s.C_out, &keep);
    auto y = new4(s.N, s.C_out, s.OH, s.OW);
    float* yp = y.mutable_data();
    {
      py::gil_scoped_release release;
      lf::conv2d_cuda_from_host(0, yp, nullptr, lf::bind::cptr<float>(x), lf::bind::cptr<float>(w),
                                bp, s.N, s.C_in, s.H, s.W, s.C_out, s.kh, s.kw, s.sh, s.sw, s.ph,
                                s.pw);
    }
    return y;
  }
  if (pass == 1) {
    const auto dy = lf::bind::array_arg<float>(a_obj, "dy", 4, kDy);
    const auto w = lf::bind::array_arg<float>(b_obj, "weight", 4, kW);
    require_channels(dy.shape(1), "dy", w.shape(0), "weight");
    const Shape s = make_shape(dy.shape(0), w.shape(1), hw[0], hw[1], w.shape(0), w.shape(2),
                               w.shape(3), stride, padding);
    require_dy(dy, s);
    auto dx = new4(s.N, s.C_in, s.H, s.W);
    float* dxp = dx.mutable_data();
    {
      py::gil_scoped_release release;
      lf::conv2d_cuda_from_host(1, dxp, nullptr, lf::bind::cptr<float>(dy),
                                lf::bind::cptr<float>(w), nullptr, s.N, s.C_in, s.H, s.W, s.C_out,
                                s.kh, s.kw, s.sh, s.sw, s.ph, s.pw);
    }
    return dx;
  }
  if (pass != 2) throw py::value_error("pass must be 0, 1 or 2, got " + std::to_string(pass));
  const auto dy = lf::bind::array_arg<float>(a_obj, "dy", 4, kDy);
  const auto x = lf::bind::array_arg<float>(b_obj, "x", 4, kX);
  if (dy.shape(0) != x.shape(0)) throw py::value_error("dy and x must have the same batch size");
  const Shape s = make_shape(x.shape(0), x.shape(1), x.shape(2), x.shape(3), dy.shape(1), hw[0],
                             hw[1], stride, padding);
  require_dy(dy, s);
  auto dw = new4(s.C_out, s.C_in, s.kh, s.kw);
  py::array_t<float> db(std::vector<py::ssize_t>{static_cast<py::ssize_t>(s.C_out)});
  float *dwp = dw.mutable_data(), *dbp = bias ? db.mutable_data() : nullptr;
  {
    py::gil_scoped_release release;
    lf::conv2d_cuda_from_host(2, dwp, dbp, lf::bind::cptr<float>(dy), lf::bind::cptr<float>(x),
                              nullptr, s.N, s.C_in, s.H, s.W, s.C_out, s.kh, s.kw, s.sh, s.sw, s.ph,
                              s.pw);
  }
  return py::make_tuple(std::move(dw), bias ? py::object(std::move(db)) : py::object(py::none()));
}

}  // namespace

void bind_conv2d(py::module_& m) {
  const Pair one{1, 1}, zero{0, 0};
  m.def("conv2d_forward", &conv2d_forward, py::arg("x"), py::arg("weight"),
        py::arg("bias") = py::none(), py::arg("stride") = one, py::arg("padding") = zero,
        py::arg("naive") = false,
        "y = conv2d(x, weight) + bias on float32 NCHW arrays (PyTorch's cross-correlation, zero "
        "padding, dilation 1, groups 1). naive=True runs the 7-loop reference (double sums).");
  m.def("conv2d_backward_data", &conv2d_backward_data, py::arg("dy"), py::arg("weight"),
        py::arg("input_hw"), py::arg("stride") = one, py::arg("padding") = zero,
        py::arg("naive") = false,
        "dx (N, C_in, H, W) of conv2d from dy (N, C_out, OH, OW); input_hw = (H, W).");
  m.def("conv2d_backward_weights", &conv2d_backward_weights, py::arg("dy"), py::arg("x"),
        py::arg("kernel_hw"), py::arg("stride") = one, py::arg("padding") = zero,
        py::arg("bias") = true, py::arg("naive") = false,
        "(dw, db) of conv2d: dw (C_out, C_in, kh, kw) and db (C_out,) = sum of dy over N, OH, OW "
        "(None when bias=False); kernel_hw = (kh, kw).");
  m.def("_conv2d_cuda", &conv2d_cuda, py::arg("pass_"), py::arg("a"), py::arg("b"),
        py::arg("c") = py::none(), py::arg("hw") = zero, py::arg("stride") = one,
        py::arg("padding") = zero, py::arg("bias") = true,
        "The CUDA conv2d kernels on the current device with copies to and from host arrays "
        "(RuntimeError without CUDA or a device). pass_ 0: forward(a=x, b=weight, c=bias); 1: "
        "backward_data(a=dy, b=weight, hw=input_hw); 2: backward_weights(a=dy, b=x, "
        "hw=kernel_hw, bias) -> (dw, db or None).");

  // Device pointers (bindings/device_args.h). Geometry: (N, C_in, H, W, C_out, kh, kw, sh, sw,
  // ph, pw); the launchers validate it as the CPU kernels do.
  auto d = lf::bind::device_module(m);
  using u = std::uintptr_t;
  using G = std::array<int64_t, 11>;
  using lf::bind::dptr;
  d.def(
      "conv2d_forward",
      [](int device, u stream, u y, u x, u w, u bias, G g) {
        lf::bind::launch_on(device, stream, [&](void* s) {
          lf::conv2d_forward_cuda(dptr<float>(y), dptr<const float>(x), dptr<const float>(w),
                                  dptr<const float>(bias), g[0], g[1], g[2], g[3], g[4], g[5], g[6],
                                  g[7], g[8], g[9], g[10], s);
        });
      },
      py::arg("device"), py::arg("stream"), py::arg("y"), py::arg("x"), py::arg("weight"),
      py::arg("bias"), py::arg("geometry"));
  d.def(
      "conv2d_backward_data",
      [](int device, u stream, u dx, u dy, u w, G g) {
        lf::bind::launch_on(device, stream, [&](void* s) {
          lf::conv2d_backward_data_cuda(dptr<float>(dx), dptr<const float>(dy),
                                        dptr<const float>(w), g[0], g[1], g[2], g[3], g[4], g[5],
                                        g[6], g[7], g[8], g[9], g[10], s);
        });
      },
      py::arg("device"), py::arg("stream"), py::arg("dx"), py::arg("dy"), py::arg("weight"),
      py::arg("geometry"));
  d.def(
      "conv2d_backward_weights",
      [](int device, u stream, u dw, u db, u dy, u x, G g) {
        lf::bind::launch_on(device, stream, [&](void* s) {
          lf::conv2d_backward_weights_cuda(dptr<float>(dw), dptr<float>(db), dptr<const float>(dy),
                                           dptr<const float>(x), g[0], g[1], g[2], g[3], g[4], g[5],
                                           g[6], g[7], g[8], g[9], g[10], s);
        });
      },
      py::arg("device"), py::arg("stream"), py::arg("dw"), py::arg("db"), py::arg("dy"),
      py::arg("x"), py::arg("geometry"));
}
