// Validation of numpy arrays at the binding boundary. Everything is checked before any data
// pointer is used; failures raise TypeError (wrong kind of array) or ValueError (wrong shape).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <limits>
#include <string>
#include <utility>

#include "ops/gemm.h"

namespace lf::bind {

namespace py = pybind11;

// A 2-D float32 matrix with unit column stride and a row stride (leading dimension) >= cols.
struct MatrixView {
  float* data;
  int64_t rows, cols, ld;
};

inline std::string dtype_str(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

// "(2, 3)", "(5,)", "()" -- a shape as numpy prints it, for error messages.
inline std::string shape_str(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t d = 0; d < a.ndim(); ++d) {
    s += std::to_string(a.shape(d));
    if (a.ndim() == 1 || d + 1 < a.ndim()) s += a.ndim() == 1 ? "," : ", ";
  }
  return s + ")";
}

inline MatrixView matrix_view(const py::array& a, const char* name, bool writable = false) {
  if (!a.dtype().is(py::dtype::of<float>())) {
    throw py::type_error(std::string(name) + " must be a float32 array, got dtype " + dtype_str(a));
  }
  if (a.ndim() != 2) {
    throw py::value_error(std::string(name) + " must be 2-D, got " + std::to_string(a.ndim()) +
                          "-D");
  }
  if (writable && !a.writeable()) {
    throw py::value_error(std::string(name) + " must be writable");
  }
  const int64_t rows = a.shape(0), cols = a.shape(1);
  const int64_t s0 = a.strides(0), s1 = a.strides(1);
  const auto addr = reinterpret_cast<std::uintptr_t>(a.data());
  const bool unit_cols = cols <= 1 || s1 == static_cast<int64_t>(sizeof(float));
  const bool rows_ok = rows <= 1 || (s0 > 0 && s0 % static_cast<int64_t>(sizeof(float)) == 0 &&
                                     s0 / static_cast<int64_t>(sizeof(float)) >= cols);
  const bool empty = rows == 0 || cols == 0;  // no element is read: strides do not matter
  if (!empty && (!unit_cols || !rows_ok || addr % alignof(float) != 0)) {
    throw py::value_error(std::string(name) +
                          " must be a row-major float32 matrix with unit column stride");
  }
  const int64_t ld =
      (rows <= 1 || empty) ? std::max<int64_t>(cols, 1) : s0 / static_cast<int64_t>(sizeof(float));
  return {static_cast<float*>(const_cast<void*>(a.data())), rows, cols, std::max<int64_t>(ld, 1)};
}

// A 1-D float32 contiguous vector of the given length.
inline const float* vector_view(const py::array& a, const char* name, int64_t length) {
  if (!a.dtype().is(py::dtype::of<float>())) {
    throw py::type_error(std::string(name) + " must be a float32 array, got dtype " + dtype_str(a));
  }
  if (a.ndim() != 1 || a.shape(0) != length) {
    throw py::value_error(std::string(name) + " must have shape (" + std::to_string(length) + ",)");
  }
  if (length > 1 && a.strides(0) != static_cast<int64_t>(sizeof(float))) {
    throw py::value_error(std::string(name) + " must be contiguous");
  }
  return static_cast<const float*>(a.data());
}

// True when the byte ranges of two arrays intersect (conservative: first to last element, which is
// exact for the row-major layouts accepted here).
inline bool overlaps(const py::array& x, const py::array& y) {
  if (x.nbytes() == 0 || y.nbytes() == 0) return false;
  auto range = [](const py::array& a) {
    const char* lo = static_cast<const char*>(a.data());
    const char* hi = lo;
    for (py::ssize_t d = 0; d < a.ndim(); ++d) hi += (a.shape(d) - 1) * a.strides(d);
    return std::pair<const char*, const char*>(lo, hi + a.itemsize());
  };
  const auto [xl, xh] = range(x);
  const auto [yl, yh] = range(y);
  return xl < yh && yl < xh;
}

// Validated operands of C = act(alpha * op(A) @ op(B) + beta * C + bias), shared by every GEMM
// binding (CPU, CUDA, emulated CUDA).
struct GemmOperands {
  MatrixView a, b, c;
  py::array C;  // the output (allocated when the caller passed None)
  const float* bias = nullptr;
  int64_t M = 0, N = 0, K = 0;
  Activation act = Activation::none;
};

inline GemmOperands gemm_operands(const py::array& A, const py::array& B, const py::object& C_obj,
                                  bool trans_a, bool trans_b, float beta,
                                  const py::object& bias_obj, int act) {
  GemmOperands g;
  g.a = matrix_view(A, "A");
  g.b = matrix_view(B, "B");
  g.M = trans_a ? g.a.cols : g.a.rows;
  g.K = trans_a ? g.a.rows : g.a.cols;
  const int64_t Kb = trans_b ? g.b.cols : g.b.rows;
  g.N = trans_b ? g.b.rows : g.b.cols;
  const std::string m = std::to_string(g.M), n = std::to_string(g.N);
  if (g.K != Kb) {
    throw py::value_error("inner dimensions do not match: op(A) is " + m + "x" +
                          std::to_string(g.K) + " but op(B) is " + std::to_string(Kb) + "x" + n);
  }
  if (g.M > 0 &&
      g.N > std::numeric_limits<int64_t>::max() / static_cast<int64_t>(sizeof(float)) / g.M) {
    throw py::value_error("output C of shape (" + m + ", " + n + ") overflows a 64-bit size");
  }
  if (act < 0 || act > 3) throw py::value_error("activation code must be 0..3");
  g.act = static_cast<Activation>(act);
  if (C_obj.is_none()) {
    if (beta != 0.0f) throw py::value_error("beta != 0 needs an input C");
    g.C = py::array_t<float>({g.M, g.N});
  } else {
    if (!py::isinstance<py::array>(C_obj)) throw py::type_error("C must be a numpy array or None");
    g.C = py::reinterpret_borrow<py::array>(C_obj);
  }
  g.c = matrix_view(g.C, "C", /*writable=*/true);
  if (g.c.rows != g.M || g.c.cols != g.N) {
    throw py::value_error("C must have shape (" + m + ", " + n + "), got (" +
                          std::to_string(g.c.rows) + ", " + std::to_string(g.c.cols) + ")");
  }
  py::array bias_arr;
  if (!bias_obj.is_none()) {
    if (!py::isinstance<py::array>(bias_obj)) {
      throw py::type_error("bias must be a numpy array or None");
    }
    bias_arr = py::reinterpret_borrow<py::array>(bias_obj);
    g.bias = vector_view(bias_arr, "bias", g.N);
  }
  // The kernels read A, B and bias while writing C: an aliased C would race with those reads.
  if (overlaps(g.C, A) || overlaps(g.C, B) || (g.bias && overlaps(g.C, bias_arr))) {
    throw py::value_error("C must not share memory with A, B or bias");
  }
  return g;
}

}  // namespace lf::bind
