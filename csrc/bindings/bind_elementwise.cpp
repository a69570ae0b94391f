// Bindings of the elementwise activations and row softmax (ops/elementwise.h). Each function
// takes float32, C-contiguous numpy arrays (any shape for the activations, 2-D for softmax),
// validates them before any pointer is used (TypeError: not an array / wrong dtype; ValueError:
// layout, shape, activation code), allocates a fresh output and releases the GIL around the kernel.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "bindings/array_check.h"
#include "bindings/elementwise_args.h"
#include "core/parallel.h"
#include "ops/elementwise.h"

namespace py = pybind11;

namespace {

using lf::bind::activation_arg;
using lf::bind::array_arg;
using lf::bind::cptr;
using lf::bind::empty_like;
using lf::bind::require_same_shape;

constexpr const char* kRows = "(rows, cols): softmax over the last axis";

py::array activation_forward(const py::object& x_obj, int act, bool naive) {
  const auto x = array_arg<float>(x_obj, "x");
  const auto a = activation_arg(act);
  auto y = empty_like<float>(x);
  float* yp = y.mutable_data();
  const int64_t n = static_cast<int64_t>(x.size());
  const int nt = lf::num_threads();
  {
    py::gil_scoped_release release;
    if (naive) {
      lf::activation_forward_naive(yp, cptr<float>(x), n, a);
    } else {
      lf::activation_forward_cpu(yp, cptr<float>(x), n, a, nt);
    }
  }
  return y;
}

py::array activation_backward(const py::object& dy_obj, const py::object& y_obj, int act) {
  const auto dy = array_arg<float>(dy_obj, "dy");
  const auto y = array_arg<float>(y_obj, "y");
  require_same_shape(dy, "dy", y, "y");
  const auto a = activation_arg(act);
  auto dx = empty_like<float>(y);
  float* dxp = dx.mutable_data();
  const int64_t n = static_cast<int64_t>(y.size());
  const int nt = lf::num_threads();
  {
    py::gil_scoped_release release;
    lf::activation_backward_cpu(dxp, cptr<float>(dy), cptr<float>(y), n, a, nt);
  }
  return dx;
}

py::array softmax_rows(const py::object& x_obj, bool naive) {
  const auto x = array_arg<float>(x_obj, "x", 2, kRows);
  auto y = empty_like<float>(x);
  float* yp = y.mutable_data();
  const int64_t rows = x.shape(0), cols = x.shape(1);
  const int nt = lf::num_threads();
  {
    py::gil_scoped_release release;
    if (naive) {
      lf::softmax_rows_naive(yp, cptr<float>(x), rows, cols);
    } else {
      lf::softmax_rows_cpu(yp, cptr<float>(x), rows, cols, nt);
    }
  }
  return y;
}

py::array softmax_rows_backward(const py::object& dy_obj, const py::object& y_obj) {
  const auto dy = array_arg<float>(dy_obj, "dy");
  const auto y = array_arg<float>(y_obj, "y", 2, kRows);
  require_same_shape(dy, "dy", y, "y");
  auto dx = empty_like<float>(y);
  float* dxp = dx.mutable_data();
  const int64_t rows = y.shape(0), cols = y.shape(1);
  const int nt = lf::num_threads();
  {
    py::gil_scoped_release release;
    lf::softmax_rows_backward_cpu(dxp, cptr<float>(dy), cptr<float>(y), rows, cols, nt);
  }
  return dx;
}

// The CUDA kernels on host arrays (copies in and out), for the device tests.
py::array elementwise_cuda(const std::string& op, const py::object& a, const py::object& b, int act,
                           int config) {
  auto c = lf::bind::elementwise_cuda_call(op, a, b, act);
  float* out = c.out.mutable_data();
  const float* ap = cptr<float>(c.a);
  const float* bp = c.has_b ? cptr<float>(c.b) : nullptr;
  {
    py::gil_scoped_release release;
    lf::elementwise_cuda_from_host(c.op, out, ap, bp, c.rows, c.cols, c.act, config);
  }
  return std::move(c.out);
}

}  // namespace

void bind_elementwise(py::module_& m) {
  m.def("activation_forward", &activation_forward, py::arg("x"), py::arg("act"),
        py::arg("naive") = false,
        "y = act(x) elementwise for a float32 C-contiguous array of any shape; act is "
        "an lf.Activation (none, sigmoid, tanh, relu). Returns a new array. naive=True runs the "
        "double-precision <cmath> reference.");
  m.def("activation_backward", &activation_backward, py::arg("dy"), py::arg("y"), py::arg("act"),
        "dx = dy * act'(x), computed from the forward OUTPUT y (same shape as dy).");
  m.def("softmax_rows", &softmax_rows, py::arg("x"), py::arg("naive") = false,
        "Numerically stable softmax over the last axis of a 2-D float32 C-contiguous array "
        "(naive=True: the double-precision reference).");
  m.def("softmax_rows_backward", &softmax_rows_backward, py::arg("dy"), py::arg("y"),
        "dx = y * (dy - rowsum(dy * y)) for the softmax output y (2-D).");
  m.def("_elementwise_cuda", &elementwise_cuda, py::arg("op"), py::arg("a"),
        py::arg("b") = py::none(), py::arg("act") = 0, py::arg("config") = 0,
        "Test entry: the CUDA kernel `op` (activation_forward, activation_backward, "
        "softmax_forward, softmax_backward, log_softmax_forward, log_softmax_backward; a = x or "
        "dy, b = y for the backward ops) on host arrays under launch configuration `config`. "
        "Raises RuntimeError without CUDA.");
}
