// Argument checks shared by the CUDA elementwise entries (bind_elementwise.cpp: the device kernels
// on host arrays; emu/module.cpp: the emulated kernels), built on the one validator of
// bindings/array_check.h.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "bindings/array_check.h"
#include "ops/elementwise.h"

namespace lf::bind {

namespace py = pybind11;

// One call of elementwise_cuda_from_host / _emulated: the validated inputs and a fresh output.
struct ElementwiseCudaCall {
  ElementwiseCudaOp op;
  py::array a, b;  // b: only for the backward ops (has_b)
  bool has_b = false;
  py::array_t<float> out;
  int64_t rows = 0, cols = 0;
  Activation act = Activation::none;
};

// op: "activation_forward" (a = x, any shape), "activation_backward" (a = dy, b = y, same
// shape), "softmax_forward" / "log_softmax_forward" (a = x, 2-D (rows, cols)),
// "softmax_backward" / "log_softmax_backward" (a = dy, b = y, 2-D).
inline ElementwiseCudaCall elementwise_cuda_call(const std::string& op, const py::object& a,
                                                 const py::object& b, int act) {
  static const char* const names[] = {"activation_forward",  "activation_backward",
                                      "softmax_forward",     "softmax_backward",
                                      "log_softmax_forward", "log_softmax_backward"};
  int code = -1;
  for (int i = 0; i < 6; ++i) {
    if (op == names[i]) code = i;
  }
  if (code < 0) {
    throw py::value_error(
        "op must be activation_forward, activation_backward, softmax_forward, softmax_backward, "
        "log_softmax_forward or log_softmax_backward, got '" +
        op + "'");
  }
  ElementwiseCudaCall c;
  c.op = static_cast<ElementwiseCudaOp>(code);
  c.act = activation_arg(act);
  const bool rowwise = code >= 2, backward = code % 2 == 1;
  const char* an = backward ? "dy" : "x";
  c.a = array_arg<float>(a, an, rowwise ? 2 : -1, rowwise ? "(rows, cols)" : nullptr);
  if (backward) {
    c.b = array_arg<float>(b, "y", rowwise ? 2 : -1, rowwise ? "(rows, cols)" : nullptr);
    require_same_shape(c.a, an, c.b, "y");
    c.has_b = true;
  } else if (!b.is_none()) {
    throw py::value_error("op " + op + " takes no second array (b must be None)");
  }
  if (rowwise) {
    c.rows = c.a.shape(0);
    c.cols = c.a.shape(1);
  } else {
    c.rows = 1;
    c.cols = static_cast<int64_t>(c.a.size());
  }
  c.out = empty_like<float>(c.a);
  return c;
}

}  // namespace lf::bind
