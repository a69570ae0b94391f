// Bindings of the elementwise activations and row softmax (ops/elementwise.h). Each function
// takes float32, C-contiguous numpy arrays (any shape for the activations, 2-D for softmax),
// validates them before any pointer is used (TypeError: not an array / wrong dtype; ValueError:
// layout, shape, activation code), allocates a fresh output and releases the GIL around the kernel.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bindings/array_check.h"
#include "core/parallel.h"
#include "ops/elementwise.h"

namespace py = pybind11;

namespace {

using lf::bind::shape_str;

py::array input(const py::object& obj, const char* name) {
  if (!py::isinstance<py::array>(obj)) {
    throw py::type_error(std::string(name) + " must be a numpy array, got " +
                         py::str(py::type::of(obj).attr("__name__")).cast<std::string>());
  }
  auto a = py::reinterpret_borrow<py::array>(obj);
  if (!a.dtype().is(py::dtype::of<float>())) {
    throw py::type_error(std::string(name) + " must be a float32 array, got dtype " +
                         lf::bind::dtype_str(a));
  }
  if (!(a.flags() & py::array::c_style)) {
    throw py::value_error(std::string(name) + " must be C-contiguous");
  }
  return a;
}

void check_same_shape(const py::array& a, const char* an, const py::array& b, const char* bn) {
  bool same = a.ndim() == b.ndim();
  for (py::ssize_t d = 0; same && d < a.ndim(); ++d) same = a.shape(d) == b.shape(d);
  if (!same) {
    throw py::value_error(std::string(an) + " and " + bn + " must have the same shape, got " +
                          shape_str(a) + " and " + shape_str(b));
  }
}

void check_2d(const py::array& a, const char* name) {
  if (a.ndim() != 2) {
    throw py::value_error(std::string(name) + " must be 2-D (softmax over the last axis), got " +
                          std::to_string(a.ndim()) + "-D");
  }
}

lf::Activation activation(int act) {
  if (act < 0 || act > 3) {
    throw py::value_error("activation code must be 0..3 (none, sigmoid, tanh, relu), got " +
                          std::to_string(act));
  }
  return static_cast<lf::Activation>(act);
}

py::array_t<float> empty_like(const py::array& a) {
  std::vector<py::ssize_t> shape(a.shape(), a.shape() + a.ndim());
  return py::array_t<float>(shape);
}

inline const float* cptr(const py::array& a) { return static_cast<const float*>(a.data()); }

py::array activation_forward(const py::object& x_obj, int act) {
  const auto x = input(x_obj, "x");
  const auto a = activation(act);
  auto y = empty_like(x);
  float* yp = y.mutable_data();
  const int64_t n = static_cast<int64_t>(x.size());
  const int nt = lf::num_threads();
  {
    py::gil_scoped_release release;
    lf::activation_forward_cpu(yp, cptr(x), n, a, nt);
  }
  return y;
}

py::array activation_backward(const py::object& dy_obj, const py::object& y_obj, int act) {
  const auto dy = input(dy_obj, "dy");
  const auto y = input(y_obj, "y");
  check_same_shape(dy, "dy", y, "y");
  const auto a = activation(act);
  auto dx = empty_like(y);
  float* dxp = dx.mutable_data();
  const int64_t n = static_cast<int64_t>(y.size());
  const int nt = lf::num_threads();
  {
    py::gil_scoped_release release;
    lf::activation_backward_cpu(dxp, cptr(dy), cptr(y), n, a, nt);
  }
  return dx;
}

py::array softmax_rows(const py::object& x_obj) {
  const auto x = input(x_obj, "x");
  check_2d(x, "x");
  auto y = empty_like(x);
  float* yp = y.mutable_data();
  const int64_t rows = x.shape(0), cols = x.shape(1);
  const int nt = lf::num_threads();
  {
    py::gil_scoped_release release;
    lf::softmax_rows_cpu(yp, cptr(x), rows, cols, nt);
  }
  return y;
}

py::array softmax_rows_backward(const py::object& dy_obj, const py::object& y_obj) {
  const auto dy = input(dy_obj, "dy");
  const auto y = input(y_obj, "y");
  check_2d(y, "y");
  check_same_shape(dy, "dy", y, "y");
  auto dx = empty_like(y);
  float* dxp = dx.mutable_data();
  const int64_t rows = y.shape(0), cols = y.shape(1);
  const int nt = lf::num_threads();
  {
    py::gil_scoped_release release;
    lf::softmax_rows_backward_cpu(dxp, cptr(dy), cptr(y), rows, cols, nt);
  }
  return dx;
}

}  // namespace

void bind_elementwise(py::module_& m) {
  m.def("activation_forward", &activation_forward, py::arg("x"), py::arg("act"),
        "y = act(x) elementwise for a float32 C-contiguous array of any shape; act is "
        "0 none, 1 sigmoid, 2 tanh, 3 relu. Returns a new array.");
  m.def("activation_backward", &activation_backward, py::arg("dy"), py::arg("y"), py::arg("act"),
        "dx = dy * act'(x), computed from the forward OUTPUT y (same shape as dy).");
  m.def("softmax_rows", &softmax_rows, py::arg("x"),
        "Numerically stable softmax over the last axis of a 2-D float32 C-contiguous array.");
  m.def("softmax_rows_backward", &softmax_rows_backward, py::arg("dy"), py::arg("y"),
        "dx = y * (dy - rowsum(dy * y)) for the softmax output y (2-D).");
}
