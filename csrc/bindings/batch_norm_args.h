// Validated arguments of the batch-norm bindings, shared by _C (bind_batch_norm.cpp) and the
// emulator module _emu (emu/module.cpp): everything is checked through array_check.h before a
// pointer is used; errors name the argument.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "bindings/array_check.h"

namespace lf::bind {

namespace py = pybind11;

// x as (N, C, HW): a 2-D (N, C) or 4-D (N, C, H, W) float32 C-contiguous array.
struct BatchNormInput {
  py::array a;
  int64_t N = 0, C = 0, HW = 1;
};

inline BatchNormInput batch_norm_input(const py::object& obj, const char* name) {
  BatchNormInput in;
  in.a = array_arg<float>(obj, name);
  if (in.a.ndim() != 2 && in.a.ndim() != 4) {
    throw py::value_error(std::string(name) +
                          " must be 2-D (N, C) or 4-D (N, C, H, W), got shape " + shape_str(in.a));
  }
  in.N = in.a.shape(0);
  in.C = in.a.shape(1);
  in.HW = in.a.ndim() == 4 ? in.a.shape(2) * in.a.shape(3) : 1;
  return in;
}

inline void batch_norm_require_batch(const BatchNormInput& in, const char* name) {
  if (in.C > 0 && in.N * in.HW < 2) {
    throw py::value_error("expected more than 1 value per channel when training, got " +
                          std::string(name) + " of shape " + shape_str(in.a));
  }
}

// A per-channel (C,) float32 vector; None gives nullptr when optional. `keep` holds the array.
inline float* batch_norm_vector(const py::object& obj, const char* name, int64_t C,
                                std::vector<py::array>& keep, bool optional,
                                bool writable = false) {
  if (obj.is_none()) {
    if (!optional) throw py::type_error(std::string(name) + " must be a numpy array, got None");
    return nullptr;
  }
  py::array a = array_arg<float>(obj, name, 1, "(C,)", writable);
  if (a.shape(0) != C) {
    throw py::value_error(std::string(name) + " must have shape (" + std::to_string(C) +
                          ",), got " + shape_str(a));
  }
  keep.push_back(a);
  return mptr<float>(a);
}

inline double batch_norm_eps(double eps) {
  if (!(std::isfinite(eps) && eps > 0.0)) {
    throw py::value_error("eps must be a finite number > 0, got " + std::to_string(eps));
  }
  return eps;
}

inline double batch_norm_momentum(double momentum) {
  if (!(momentum >= 0.0 && momentum <= 1.0)) {
    throw py::value_error("momentum must be in [0, 1], got " + std::to_string(momentum));
  }
  return momentum;
}

// The running statistics are written in place while x, gamma and beta are read: refuse aliasing.
inline void batch_norm_no_alias(const std::vector<py::array>& outs,
                                const std::vector<const char*>& out_names,
                                const std::vector<py::array>& ins,
                                const std::vector<const char*>& in_names) {
  for (size_t i = 0; i < outs.size(); ++i) {
    for (size_t j = 0; j < ins.size(); ++j) {
      if (overlaps(outs[i], ins[j])) {
        throw py::value_error(std::string(out_names[i]) + " must not share memory with " +
                              in_names[j]);
      }
    }
  }
}

// Validated operands of the training forward (the running statistics as given, maybe null).
struct BatchNormTrainArgs {
  BatchNormInput x;
  std::vector<py::array> keep;
  const float *gamma = nullptr, *beta = nullptr;
  float *running_mean = nullptr, *running_var = nullptr;
  double momentum = 0.1, eps = 1e-5;
};

inline BatchNormTrainArgs batch_norm_train_args(const py::object& x, const py::object& gamma,
                                                const py::object& beta,
                                                const py::object& running_mean,
                                                const py::object& running_var, double momentum,
                                                double eps) {
  BatchNormTrainArgs a;
  a.x = batch_norm_input(x, "x");
  const int64_t C = a.x.C;
  a.gamma = batch_norm_vector(gamma, "gamma", C, a.keep, true);
  a.beta = batch_norm_vector(beta, "beta", C, a.keep, true);
  std::vector<py::array> ins = a.keep;
  std::vector<const char*> in_names;
  if (a.gamma) in_names.push_back("gamma");
  if (a.beta) in_names.push_back("beta");
  ins.push_back(a.x.a);
  in_names.push_back("x");
  std::vector<py::array> outs;
  std::vector<const char*> out_names;
  a.running_mean = batch_norm_vector(running_mean, "running_mean", C, a.keep, true, true);
  if (a.running_mean) {
    outs.push_back(a.keep.back());
    out_names.push_back("running_mean");
  }
  a.running_var = batch_norm_vector(running_var, "running_var", C, a.keep, true, true);
  if (a.running_var) {
    outs.push_back(a.keep.back());
    out_names.push_back("running_var");
  }
  batch_norm_no_alias(outs, out_names, ins, in_names);
  if (outs.size() == 2 && overlaps(outs[0], outs[1])) {
    throw py::value_error("running_mean must not share memory with running_var");
  }
  a.momentum = batch_norm_momentum(momentum);
  a.eps = batch_norm_eps(eps);
  batch_norm_require_batch(a.x, "x");
  return a;
}

// Validated operands of a backward: dy and x of one shape, mean / invstd (C,), gamma optional.
struct BatchNormBackwardArgs {
  BatchNormInput x;
  py::array dy;
  std::vector<py::array> keep;
  const float *mean = nullptr, *invstd = nullptr, *gamma = nullptr;
};

inline BatchNormBackwardArgs batch_norm_backward_args(const py::object& dy, const py::object& x,
                                                      const py::object& mean,
                                                      const py::object& invstd,
                                                      const py::object& gamma, bool training) {
  BatchNormBackwardArgs a;
  a.dy = array_arg<float>(dy, "dy");
  a.x = batch_norm_input(x, "x");
  require_same_shape(a.dy, "dy", a.x.a, "x");
  a.mean = batch_norm_vector(mean, "mean", a.x.C, a.keep, false);
  a.invstd = batch_norm_vector(invstd, "invstd", a.x.C, a.keep, false);
  a.gamma = batch_norm_vector(gamma, "gamma", a.x.C, a.keep, true);
  if (training) batch_norm_require_batch(a.x, "x");
  return a;
}

}  // namespace lf::bind
