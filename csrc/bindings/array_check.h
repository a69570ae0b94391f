// The one validator of the binding boundary: every bind_<op>.cpp checks its arguments with
// these helpers before any data pointer is used. Failures raise TypeError (not an array, wrong
// dtype, wrong Python type) or ValueError (shape, layout, value), naming the argument as the
// Python signature does.
//
// dtypes are compared by value (numpy's PyArray_EquivTypes: kind, size and byte order), never
// by object identity: an array that went through pickle, multiprocessing or joblib carries a
// float32 dtype object equal to, but not the same object as, numpy's canonical one. A
// non-native byte order is a different dtype here (the Python layer converts it once).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "core/activation.h"

namespace lf::bind {

namespace py = pybind11;

inline std::string type_name(const py::handle& obj) {
  return py::str(py::type::of(obj).attr("__name__")).cast<std::string>();
}

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

template <class T>
const char* dtype_name() {
  if constexpr (std::is_same_v<T, float>) return "float32";
  if constexpr (std::is_same_v<T, double>) return "float64";
  if constexpr (std::is_same_v<T, int64_t>) return "int64";
  if constexpr (std::is_same_v<T, int32_t>) return "int32";
  if constexpr (std::is_same_v<T, uint8_t>) return "uint8";
  return "?";
}

// True when a's element type is T in native byte order (equality, not identity; see above).
template <class T>
bool has_dtype(const py::array& a) {
  return py::detail::npy_api::get().PyArray_EquivTypes_(a.dtype().ptr(), py::dtype::of<T>().ptr());
}

template <class T>
void require_dtype(const py::array& a, const char* name) {
  if (!has_dtype<T>(a)) {
    std::string got = dtype_str(a);
    const char order = a.dtype().byteorder();
    if (a.dtype().itemsize() == sizeof(T) && (order == '>' || order == '<')) {
      got += order == '>' ? " (big-endian)" : " (little-endian)";
    }
    throw py::type_error(std::string(name) + " must be a " + dtype_name<T>() +
                         " array in native byte order, got dtype " + got);
  }
}

inline bool is_aligned(const py::array& a) {
  return (a.flags() & py::detail::npy_api::NPY_ARRAY_ALIGNED_) != 0;
}

// A numpy array of element type T, C-contiguous and aligned; ndim >= 0 also fixes the number of
// dimensions (`what` describes them in the error, e.g. "(rows, cols)"); writable for outputs
// updated in place.
template <class T>
py::array array_arg(const py::object& obj, const char* name, int ndim = -1,
                    const char* what = nullptr, bool writable = false) {
  if (!py::isinstance<py::array>(obj)) {
    throw py::type_error(std::string(name) + " must be a numpy array, got " + type_name(obj));
  }
  auto a = py::reinterpret_borrow<py::array>(obj);
  require_dtype<T>(a, name);
  if (ndim >= 0 && a.ndim() != ndim) {
    throw py::value_error(std::string(name) + " must be " + std::to_string(ndim) + "-D" +
                          (what ? std::string(" ") + what : std::string()) + ", got shape " +
                          shape_str(a));
  }
  if (!(a.flags() & py::array::c_style)) {
    throw py::value_error(std::string(name) + " must be C-contiguous");
  }
  if (a.size() > 0 && !is_aligned(a)) {
    throw py::value_error(std::string(name) + " must be aligned to its element size (" +
                          std::to_string(sizeof(T)) + " bytes); pass a copy");
  }
  if (writable && !a.writeable()) {
    throw py::value_error(std::string(name) + " must be writable (it is updated in place)");
  }
  return a;
}

inline void require_same_shape(const py::array& a, const char* an, const py::array& b,
                               const char* bn) {
  bool same = a.ndim() == b.ndim();
  for (py::ssize_t d = 0; same && d < a.ndim(); ++d) same = a.shape(d) == b.shape(d);
  if (!same) {
    throw py::value_error(std::string(an) + " and " + bn + " must have the same shape, got " +
                          shape_str(a) + " and " + shape_str(b));
  }
}

// A fresh C-contiguous array of T with the shape of a.
template <class T>
py::array_t<T> empty_like(const py::array& a) {
  return py::array_t<T>(std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim()));
}

template <class T>
const T* cptr(const py::array& a) {
  return static_cast<const T*>(a.data());
}
template <class T>
T* mptr(const py::array& a) {
  return static_cast<T*>(const_cast<void*>(a.data()));
}

// A Python integer (anything with __index__, but not bool) in [0, 2**bits).
inline uint64_t uint_arg(const py::handle& obj, const char* name, int bits) {
  if (PyBool_Check(obj.ptr()) || !PyIndex_Check(obj.ptr())) {
    throw py::type_error(std::string(name) + " must be an int, got " + type_name(obj));
  }
  auto v = py::reinterpret_steal<py::int_>(PyNumber_Index(obj.ptr()));
  if (!v) throw py::error_already_set();
  const py::int_ limit = py::int_(1).attr("__lshift__")(bits);
  if (v < py::int_(0) || v >= limit) {
    throw py::value_error(std::string(name) + " must satisfy 0 <= " + name + " < 2**" +
                          std::to_string(bits) + ", got " + py::str(v).cast<std::string>());
  }
  return v.cast<unsigned long long>();
}

// The activation argument: an lf.Activation member (the enum bound in bind_core.cpp) or its
// integer value.
inline Activation activation_arg(int code) {
  if (!activation_valid(code)) {
    throw py::value_error(
        "activation code must be an lf.Activation (none, sigmoid, tanh, relu) "
        "or its value 0..3, got " +
        std::to_string(code));
  }
  return static_cast<Activation>(code);
}

// A 2-D float32 matrix with unit column stride and a row stride (leading dimension) >= cols.
struct MatrixView {
  float* data;
  int64_t rows, cols, ld;
};

inline MatrixView matrix_view(const py::array& a, const char* name, bool writable = false) {
  require_dtype<float>(a, name);
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
  if (!empty && addr % alignof(float) != 0) {
    throw py::value_error(std::string(name) + " must be aligned to 4 bytes; pass a copy");
  }
  if (!empty && (!unit_cols || !rows_ok)) {
    throw py::value_error(std::string(name) +
                          " must be a row-major float32 matrix with unit column stride");
  }
  const int64_t ld =
      (rows <= 1 || empty) ? std::max<int64_t>(cols, 1) : s0 / static_cast<int64_t>(sizeof(float));
  return {static_cast<float*>(const_cast<void*>(a.data())), rows, cols, std::max<int64_t>(ld, 1)};
}

// A 1-D float32 contiguous vector of the given length.
inline const float* vector_view(const py::array& a, const char* name, int64_t length) {
  require_dtype<float>(a, name);
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
  g.act = activation_arg(act);
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
