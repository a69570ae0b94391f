// Argument checks shared by the local contrast normalisation bindings
// (bind_local_contrast_norm2d.cpp: CPU and CUDA; emu/module.cpp: the emulated CUDA kernels), built
// on the one validator of bindings/array_check.h. Errors name the argument.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "bindings/array_check.h"

namespace lf::bind {

// The scalar arguments: size an odd int >= 1 (not bool), sigma and eps finite numbers > 0.
struct LcnScalars {
  int64_t size;
  double sigma, eps;
};

inline LcnScalars lcn_scalars(const py::object& size, double sigma, double eps) {
  if (PyBool_Check(size.ptr()) || !PyIndex_Check(size.ptr())) {
    throw py::type_error("size must be an odd int >= 1, got " + type_name(size));
  }
  const py::int_ i = py::reinterpret_steal<py::int_>(PyNumber_Index(size.ptr()));
  if (!i) throw py::error_already_set();
  if (i < py::int_(1) || i > py::int_(INT32_MAX) || (i.cast<int64_t>() % 2) == 0) {
    throw py::value_error("size must be an odd int in [1, 2**31), got " +
                          py::str(i).cast<std::string>());
  }
  if (!std::isfinite(sigma) || sigma <= 0.0) {
    throw py::value_error("sigma must be a finite number > 0, got " + std::to_string(sigma));
  }
  if (!std::isfinite(eps) || eps <= 0.0) {
    throw py::value_error("eps must be a finite number > 0, got " + std::to_string(eps));
  }
  return {i.cast<int64_t>(), sigma, eps};
}

// x: float32 (N, C, H, W), C-contiguous, C, H, W >= 1.
inline py::array lcn_input(const py::object& obj, const char* name = "x") {
  py::array x = array_arg<float>(obj, name, 4, "(N, C, H, W)");
  if (x.shape(1) < 1 || x.shape(2) < 1 || x.shape(3) < 1) {
    throw py::value_error(std::string(name) + " must have C, H, W >= 1, got shape " + shape_str(x));
  }
  return x;
}

inline void lcn_require_shape(const py::array& a, const char* name,
                              const std::vector<py::ssize_t>& shape, const char* what) {
  bool same = a.ndim() == static_cast<py::ssize_t>(shape.size());
  for (size_t d = 0; same && d < shape.size(); ++d) {
    same = a.shape(static_cast<py::ssize_t>(d)) == shape[d];
  }
  if (!same) {
    std::string s = "(";
    for (size_t d = 0; d < shape.size(); ++d) s += (d ? ", " : "") + std::to_string(shape[d]);
    if (shape.size() == 1) s += ",";
    throw py::value_error(std::string(name) + " must have shape " + what + " = " + s +
                          ") for this x, got " + shape_str(a));
  }
}

// The operands of a backward call: dy like x, mean and sigma (N, H, W), c (N,).
struct LcnBackwardArgs {
  py::array dy, x, mean, sigma, c;
  int64_t N, C, H, W;
};

inline LcnBackwardArgs lcn_backward_args(const py::object& dy, const py::object& x,
                                         const py::object& mean, const py::object& sigma_map,
                                         const py::object& c) {
  LcnBackwardArgs a;
  a.x = lcn_input(x, "x");
  a.dy = array_arg<float>(dy, "dy", 4, "(N, C, H, W)");
  require_same_shape(a.dy, "dy", a.x, "x");
  a.N = a.x.shape(0);
  a.C = a.x.shape(1);
  a.H = a.x.shape(2);
  a.W = a.x.shape(3);
  const std::vector<py::ssize_t> nhw{a.x.shape(0), a.x.shape(2), a.x.shape(3)};
  a.mean = array_arg<float>(mean, "mean", 3, "(N, H, W)");
  lcn_require_shape(a.mean, "mean", nhw, "(N, H, W)");
  a.sigma = array_arg<float>(sigma_map, "sigma_map", 3, "(N, H, W)");
  lcn_require_shape(a.sigma, "sigma_map", nhw, "(N, H, W)");
  a.c = array_arg<float>(c, "c", 1, "(N,)");
  lcn_require_shape(a.c, "c", {a.x.shape(0)}, "(N,)");
  return a;
}

// Fresh forward outputs for x: y like x, mean and sigma (N, H, W), c (N,).
struct LcnOutputs {
  py::array_t<float> y, mean, sigma, c;
};

inline LcnOutputs lcn_outputs(const py::array& x) {
  const std::vector<py::ssize_t> nhw{x.shape(0), x.shape(2), x.shape(3)};
  return {empty_like<float>(x), py::array_t<float>(nhw), py::array_t<float>(nhw),
          py::array_t<float>(std::vector<py::ssize_t>{x.shape(0)})};
}

}  // namespace lf::bind
