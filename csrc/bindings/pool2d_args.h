// Argument checks shared by the pooling bindings (bind_pool2d.cpp: CPU and CUDA; emu/module.cpp:
// the emulated CUDA kernels), built on the one validator of bindings/array_check.h. Every
// geometry error names kernel_size, stride, padding or the array at fault.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "bindings/array_check.h"
#include "ops/pool2d.h"

namespace lf::bind {

constexpr const char* kNCHW = "(N, C, H, W)";
constexpr const char* kNCOHOW = "(N, C, OH, OW)";

// One int (not bool) in [0, 2**31): the pieces of kernel_size / stride / padding / input_hw.
inline int64_t pool_int(const py::handle& v, const char* name) {
  if (PyBool_Check(v.ptr()) || !PyIndex_Check(v.ptr())) {
    throw py::type_error(std::string(name) + " must be a pair of ints (h, w), got an element of " +
                         "type " + type_name(v));
  }
  const py::int_ i = py::reinterpret_steal<py::int_>(PyNumber_Index(v.ptr()));
  if (!i) throw py::error_already_set();
  if (i < py::int_(0) || i > py::int_(INT32_MAX)) {
    throw py::value_error(std::string(name) + " must hold values in [0, 2**31), got " +
                          py::str(i).cast<std::string>());
  }
  return i.cast<int64_t>();
}

// A (h, w) pair: a tuple or list of two ints.
inline std::pair<int64_t, int64_t> pool_pair(const py::object& obj, const char* name) {
  if (!py::isinstance<py::tuple>(obj) && !py::isinstance<py::list>(obj)) {
    throw py::type_error(std::string(name) + " must be a pair of ints (h, w), got " +
                         type_name(obj));
  }
  const py::sequence seq = py::reinterpret_borrow<py::sequence>(obj);
  if (seq.size() != 2) {
    throw py::value_error(std::string(name) + " must be a pair of ints (h, w), got " +
                          std::to_string(seq.size()) + " values");
  }
  return {pool_int(seq[0], name), pool_int(seq[1], name)};
}

// The validated geometry of an input of shape (n, c, h, w) (std::invalid_argument -> ValueError,
// naming kernel_size / stride / padding).
inline Pool2dShape pool_geometry(int64_t n, int64_t c, int64_t h, int64_t w,
                                 const py::object& kernel_size, const py::object& stride,
                                 const py::object& padding) {
  const auto [kh, kw] = pool_pair(kernel_size, "kernel_size");
  const auto [sh, sw] = pool_pair(stride, "stride");
  const auto [ph, pw] = pool_pair(padding, "padding");
  if (kh < 1 || kw < 1) {
    throw py::value_error("kernel_size must be >= 1, got (" + std::to_string(kh) + ", " +
                          std::to_string(kw) + ")");
  }
  if (sh < 1 || sw < 1) {
    throw py::value_error("stride must be >= 1, got (" + std::to_string(sh) + ", " +
                          std::to_string(sw) + ")");
  }
  return pool2d_shape(n, c, h, w, kh, kw, sh, sw, ph, pw);
}

inline PoolMode pool_mode(const std::string& mode) {
  if (mode == "max") return PoolMode::max;
  if (mode == "avg") return PoolMode::avg;
  if (mode == "l2") return PoolMode::l2;
  throw py::value_error("mode must be 'max', 'avg' or 'l2', got '" + mode + "'");
}

// x: float32 (N, C, H, W), C-contiguous.
inline py::array pool_input(const py::object& x_obj, const char* name = "x") {
  py::array x = array_arg<float>(x_obj, name, 4, kNCHW);
  if (x.shape(2) < 1 || x.shape(3) < 1) {
    throw py::value_error(std::string(name) + " must have H >= 1 and W >= 1, got shape " +
                          shape_str(x));
  }
  return x;
}

inline std::vector<py::ssize_t> pool_out_shape(const Pool2dShape& s) {
  return {static_cast<py::ssize_t>(s.n), static_cast<py::ssize_t>(s.c),
          static_cast<py::ssize_t>(s.oh), static_cast<py::ssize_t>(s.ow)};
}

inline std::vector<py::ssize_t> pool_in_shape(const Pool2dShape& s) {
  return {static_cast<py::ssize_t>(s.n), static_cast<py::ssize_t>(s.c),
          static_cast<py::ssize_t>(s.h), static_cast<py::ssize_t>(s.w)};
}

// a (named `name`) must have the 4-D shape `shape` (what = its layout, for the message).
inline void pool_require_shape(const py::array& a, const char* name,
                               const std::vector<py::ssize_t>& shape, const char* what) {
  bool same = a.ndim() == 4;
  for (int d = 0; same && d < 4; ++d) same = a.shape(d) == shape[static_cast<size_t>(d)];
  if (!same) {
    std::string s = "(";
    for (size_t d = 0; d < shape.size(); ++d) s += (d ? ", " : "") + std::to_string(shape[d]);
    throw py::value_error(std::string(name) + " must have shape " + what + " = " + s +
                          ") for this input and geometry, got " + shape_str(a));
  }
}

// The operands of a backward call, validated: dy (and argmax for max; x and y for l2) against
// the geometry of an input of spatial size input_hw (or x's shape for l2).
struct PoolBackwardArgs {
  Pool2dShape s;
  py::array dy, argmax, x, y;  // argmax / x / y: empty arrays where the mode does not read them
};

inline PoolBackwardArgs pool_backward_args(PoolMode mode, const py::object& dy_obj,
                                           const py::object& argmax_obj, const py::object& x_obj,
                                           const py::object& y_obj, const py::object& input_hw,
                                           const py::object& kernel_size, const py::object& stride,
                                           const py::object& padding) {
  PoolBackwardArgs a;
  a.dy = array_arg<float>(dy_obj, "dy", 4, kNCOHOW);
  int64_t h = 0, w = 0;
  if (mode == PoolMode::l2) {
    a.x = pool_input(x_obj, "x");
    if (a.x.shape(0) != a.dy.shape(0) || a.x.shape(1) != a.dy.shape(1)) {
      throw py::value_error("x and dy must agree on (N, C), got x " + shape_str(a.x) + " and dy " +
                            shape_str(a.dy));
    }
    h = a.x.shape(2);
    w = a.x.shape(3);
  } else {
    const auto hw = pool_pair(input_hw, "input_hw");
    h = hw.first;
    w = hw.second;
    if (h < 1 || w < 1) {
      throw py::value_error("input_hw must be >= 1, got (" + std::to_string(h) + ", " +
                            std::to_string(w) + ")");
    }
  }
  a.s = pool_geometry(a.dy.shape(0), a.dy.shape(1), h, w, kernel_size, stride, padding);
  const auto out = pool_out_shape(a.s);
  pool_require_shape(a.dy, "dy", out, kNCOHOW);
  if (mode == PoolMode::max) {
    a.argmax = array_arg<int32_t>(argmax_obj, "argmax", 4, kNCOHOW);
    pool_require_shape(a.argmax, "argmax", out, kNCOHOW);
  } else if (mode == PoolMode::l2) {
    a.y = array_arg<float>(y_obj, "y", 4, kNCOHOW);
    pool_require_shape(a.y, "y", out, kNCOHOW);
  }
  return a;
}

// argmax entries outside [0, H*W): the CPU kernel rejects them itself; the CUDA entry points
// (which would skip them) call this first so that every path raises the same ValueError.
inline void pool_check_argmax(const py::array& argmax, const Pool2dShape& s) {
  const int32_t* a = cptr<int32_t>(argmax);
  const int64_t n = argmax.size(), hw = s.h * s.w;
  for (int64_t i = 0; i < n; ++i) {
    if (a[i] < 0 || a[i] >= hw) {
      throw py::value_error("argmax holds an index outside [0, H*W = " + std::to_string(hw) +
                            "): " + std::to_string(a[i]));
    }
  }
}

}  // namespace lf::bind
