// Array checks shared by the optimizer bindings (bind_optim.cpp: the CPU kernels and the CUDA
// host-array entries; emu/module.cpp: the emulated CUDA kernels), built on the one validator of
// bindings/array_check.h: float32, C-contiguous, same shape as param, writable where written, no
// memory shared between any two operands.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "bindings/array_check.h"
#include "ops/optim.h"

namespace lf::bind {

namespace py = pybind11;

// A validated operand: the array (kept alive), its data pointer and element count.
struct Operand {
  py::array arr;
  float* data = nullptr;
  int64_t n = 0;
};

inline Operand operand(const py::object& obj, const char* name, bool writable,
                       const py::array* like = nullptr) {
  Operand o;
  o.arr = lf::bind::array_arg<float>(obj, name, -1, nullptr, writable);
  if (like != nullptr) {
    bool same = o.arr.ndim() == like->ndim();
    for (py::ssize_t d = 0; same && d < like->ndim(); ++d) same = o.arr.shape(d) == like->shape(d);
    if (!same) {
      throw py::value_error(std::string(name) + " must have the shape of param " +
                            shape_str(*like) + ", got " + shape_str(o.arr));
    }
  }
  o.n = static_cast<int64_t>(o.arr.size());
  o.data = static_cast<float*>(const_cast<void*>(o.arr.data()));
  return o;
}

// param, grad and states: param first, grad second. Every pair must be disjoint in memory,
// since the kernels read grad while writing param and the states element by element.
struct Operands {
  Operand param, grad;
  std::vector<Operand> states;
};

inline Operands operands(const py::object& param, const py::object& grad,
                         std::initializer_list<std::pair<const py::object*, const char*>> states) {
  Operands ops;
  ops.param = operand(param, "param", /*writable=*/true);
  ops.grad = operand(grad, "grad", /*writable=*/false, &ops.param.arr);
  for (const auto& [obj, name] : states) {
    ops.states.push_back(operand(*obj, name, /*writable=*/true, &ops.param.arr));
  }
  std::vector<std::pair<const py::array*, std::string>> all = {{&ops.param.arr, "param"},
                                                               {&ops.grad.arr, "grad"}};
  auto it = states.begin();
  for (const auto& s : ops.states) all.emplace_back(&s.arr, (it++)->second);
  for (size_t i = 0; i < all.size(); ++i) {
    for (size_t j = i + 1; j < all.size(); ++j) {
      if (lf::bind::overlaps(*all[i].first, *all[j].first)) {
        throw py::value_error(all[i].second + " and " + all[j].second + " must not share memory");
      }
    }
  }
  return ops;
}

// One step of the CUDA entries (bind_optim.cpp _optim_cuda_step, emu/module.cpp optim_cuda_step):
// the rule by name, its state arrays in the order of its CPU signature (momentum / nesterov:
// momentum_buffer; adagrad: sum; rmsprop: square_avg, momentum_buffer (None when momentum == 0);
// adam: exp_avg, exp_avg_sq; adadelta: square_avg, acc_delta), all validated like the CPU ones.
struct OptimCudaCall {
  Operands ops;
  OptimRule rule = OptimRule::sgd;
  float* state0 = nullptr;
  float* state1 = nullptr;
};

inline OptimCudaCall optim_cuda_call(const std::string& rule, const py::object& param,
                                     const py::object& grad, const py::object& state0,
                                     const py::object& state1, float momentum) {
  struct Rule {
    const char* name;
    OptimRule rule;
    const char* s0;
    const char* s1;  // nullptr: no second state
  };
  static const Rule rules[] = {
      {"sgd", OptimRule::sgd, nullptr, nullptr},
      {"momentum", OptimRule::momentum, "momentum_buffer", nullptr},
      {"nesterov", OptimRule::nesterov, "momentum_buffer", nullptr},
      {"adagrad", OptimRule::adagrad, "sum", nullptr},
      {"rmsprop", OptimRule::rmsprop, "square_avg", "momentum_buffer"},
      {"adam", OptimRule::adam, "exp_avg", "exp_avg_sq"},
      {"adadelta", OptimRule::adadelta, "square_avg", "acc_delta"},
  };
  const Rule* r = nullptr;
  for (const Rule& x : rules) {
    if (rule == x.name) r = &x;
  }
  if (r == nullptr) {
    throw py::value_error(
        "rule must be sgd, momentum, nesterov, adagrad, rmsprop, adam or adadelta, got '" + rule +
        "'");
  }
  // rmsprop's momentum buffer is optional (None when momentum == 0), as in optim_rmsprop.
  const bool rms = r->rule == OptimRule::rmsprop;
  if (rms && momentum != 0.0f && state1.is_none()) {
    throw py::value_error("rmsprop with momentum > 0 needs a momentum_buffer array");
  }
  const bool use1 = r->s1 != nullptr && !(rms && state1.is_none());
  if (r->s0 == nullptr && !state0.is_none()) {
    throw py::value_error(rule + " takes no state arrays (state0 must be None)");
  }
  if (r->s1 == nullptr && !state1.is_none()) {
    throw py::value_error(rule + " takes one state array (state1 must be None)");
  }
  OptimCudaCall c;
  c.rule = r->rule;
  if (r->s0 == nullptr) {
    c.ops = operands(param, grad, {});
  } else if (!use1) {
    c.ops = operands(param, grad, {{&state0, r->s0}});
  } else {
    c.ops = operands(param, grad, {{&state0, r->s0}, {&state1, r->s1}});
  }
  if (c.ops.states.size() > 0) c.state0 = c.ops.states[0].data;
  if (c.ops.states.size() > 1) c.state1 = c.ops.states[1].data;
  return c;
}

inline OptimHyper optim_hyper(float lr, float momentum, float alpha, float rho, float beta1,
                              float beta2, float eps, float weight_decay, float l1, int64_t step) {
  OptimHyper h;
  h.lr = lr;
  h.momentum = momentum;
  h.alpha = alpha;
  h.rho = rho;
  h.beta1 = beta1;
  h.beta2 = beta2;
  h.eps = eps;
  h.weight_decay = weight_decay;
  h.l1 = l1;
  h.step = step;
  return h;
}

// The max-norm entries' W: float32, 2-D, C-contiguous, writable.
inline py::array max_norm_matrix(const py::object& W, int axis) {
  const py::array w = array_arg<float>(W, "W", 2, "(rows, cols)", /*writable=*/true);
  if (axis != 0 && axis != 1) throw py::value_error("axis must be 0 or 1");
  return w;
}

}  // namespace lf::bind
