// Argument checks shared by the locally connected bindings (bind_locally_connected2d.cpp: CPU
// and CUDA; emu/module.cpp: the emulated CUDA kernels), built on the one validator of
// bindings/array_check.h and locally_connected2d_check_args. Every error names the argument at
// fault.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "bindings/array_check.h"
#include "ops/locally_connected2d.h"

namespace lf::bind {

using Lc2dPair = std::array<int64_t, 2>;

constexpr const char* kLcX = "(N, C_in, H, W)";
constexpr const char* kLcW = "(OH, OW, C_out, C_in, kh, kw)";
constexpr const char* kLcDy = "(N, C_out, OH, OW)";

struct Lc2dShape {
  int64_t N, C_in, H, W, C_out, kh, kw, sh, sw, OH, OW;
};

inline std::string lc2d_tuple(std::initializer_list<int64_t> v) {
  std::string s = "(";
  bool first = true;
  for (const int64_t e : v) {
    s += (first ? "" : ", ") + std::to_string(e);
    first = false;
  }
  return s + (v.size() == 1 ? ",)" : ")");
}

inline Lc2dShape lc2d_shape(int64_t N, int64_t C_in, int64_t H, int64_t W, int64_t C_out,
                            int64_t kh, int64_t kw, Lc2dPair stride) {
  const LocallyConnected2dGeometry g =
      locally_connected2d_check_args(N, C_in, H, W, C_out, kh, kw, stride[0], stride[1]);
  return {N, C_in, H, W, C_out, kh, kw, stride[0], stride[1], g.OH, g.OW};
}

// weight (OH, OW, C_out, C_in, kh, kw) must have the positions of the geometry.
inline void lc2d_require_positions(const py::array& w, const Lc2dShape& s, const char* from) {
  if (w.shape(0) != s.OH || w.shape(1) != s.OW) {
    throw py::value_error("weight of shape " + shape_str(w) + " has " + std::to_string(w.shape(0)) +
                          "x" + std::to_string(w.shape(1)) + " output positions, but " + from +
                          " gives " + std::to_string(s.OH) + "x" + std::to_string(s.OW));
  }
}

inline void lc2d_require_dy(const py::array& dy, const Lc2dShape& s) {
  if (dy.shape(0) != s.N || dy.shape(1) != s.C_out || dy.shape(2) != s.OH || dy.shape(3) != s.OW) {
    throw py::value_error("dy must have shape " + lc2d_tuple({s.N, s.C_out, s.OH, s.OW}) +
                          " (the forward output's), got " + shape_str(dy));
  }
}

inline std::string lc2d_geometry_str(const Lc2dShape& s) {
  return "an input of " + std::to_string(s.H) + "x" + std::to_string(s.W) + " with kernel " +
         std::to_string(s.kh) + "x" + std::to_string(s.kw) + " and stride " +
         lc2d_tuple({s.sh, s.sw});
}

// Forward: x (N, C_in, H, W) and weight (OH, OW, C_out, C_in, kh, kw).
inline Lc2dShape lc2d_forward_shape(const py::array& x, const py::array& w, Lc2dPair stride) {
  if (x.shape(1) != w.shape(3)) {
    throw py::value_error("x has " + std::to_string(x.shape(1)) + " channels but weight of shape " +
                          shape_str(w) + " expects " + std::to_string(w.shape(3)) +
                          " (C_in is its 4th axis)");
  }
  const Lc2dShape s = lc2d_shape(x.shape(0), x.shape(1), x.shape(2), x.shape(3), w.shape(2),
                                 w.shape(4), w.shape(5), stride);
  lc2d_require_positions(w, s, lc2d_geometry_str(s).c_str());
  return s;
}

// Backward data: dy (N, C_out, OH, OW), weight, input_hw = (H, W).
inline Lc2dShape lc2d_backward_data_shape(const py::array& dy, const py::array& w,
                                          Lc2dPair input_hw, Lc2dPair stride) {
  if (dy.shape(1) != w.shape(2)) {
    throw py::value_error("dy has " + std::to_string(dy.shape(1)) +
                          " channels but weight of shape " + shape_str(w) +
                          " has C_out = " + std::to_string(w.shape(2)) + " (its 3rd axis)");
  }
  if (input_hw[0] < 0 || input_hw[1] < 0) {
    throw py::value_error("input_hw must be >= 0, got " + lc2d_tuple({input_hw[0], input_hw[1]}));
  }
  const Lc2dShape s = lc2d_shape(dy.shape(0), w.shape(3), input_hw[0], input_hw[1], w.shape(2),
                                 w.shape(4), w.shape(5), stride);
  lc2d_require_positions(w, s, lc2d_geometry_str(s).c_str());
  lc2d_require_dy(dy, s);
  return s;
}

// Backward weights: dy (N, C_out, OH, OW), x (N, C_in, H, W), kernel_hw = (kh, kw).
inline Lc2dShape lc2d_backward_weights_shape(const py::array& dy, const py::array& x,
                                             Lc2dPair kernel_hw, Lc2dPair stride) {
  if (dy.shape(0) != x.shape(0)) {
    throw py::value_error("dy and x must have the same batch size, got " + shape_str(dy) + " and " +
                          shape_str(x));
  }
  if (kernel_hw[0] < 1 || kernel_hw[1] < 1) {
    throw py::value_error("kernel_hw must be >= 1, got " +
                          lc2d_tuple({kernel_hw[0], kernel_hw[1]}));
  }
  const Lc2dShape s = lc2d_shape(x.shape(0), x.shape(1), x.shape(2), x.shape(3), dy.shape(1),
                                 kernel_hw[0], kernel_hw[1], stride);
  lc2d_require_dy(dy, s);
  return s;
}

// The optional bias (C_out, OH, OW); nullptr for None. `keep` holds the validated array.
inline const float* lc2d_bias_arg(const py::object& obj, const Lc2dShape& s, py::array* keep) {
  if (obj.is_none()) return nullptr;
  *keep = array_arg<float>(obj, "bias", 3, "(C_out, OH, OW)");
  if (keep->shape(0) != s.C_out || keep->shape(1) != s.OH || keep->shape(2) != s.OW) {
    throw py::value_error("bias must have shape " + lc2d_tuple({s.C_out, s.OH, s.OW}) +
                          " (C_out, OH, OW: one per output channel and position), got " +
                          shape_str(*keep));
  }
  return cptr<float>(*keep);
}

}  // namespace lf::bind
