// Bindings of the fused optimizer steps (ops/optim.h): one function per rule, all updating
// param and the state arrays IN PLACE. The Python layer (latentforge.optim) owns the state and
// validates hyperparameters with friendly messages; this layer re-validates every array (numpy
// ndarray, float32, C-contiguous, same shape as param, writable where written, no memory shared
// between any two of them) before a pointer is touched, then releases the GIL around the kernel.
// Hyperparameter ranges are checked again by the kernels (std::invalid_argument -> ValueError).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "bindings/array_check.h"
#include "bindings/optim_args.h"
#include "core/parallel.h"
#include "ops/optim.h"

namespace py = pybind11;

namespace {

using lf::bind::operand;
using lf::bind::Operands;
using lf::bind::operands;
using lf::bind::shape_str;

void sgd(const py::object& param, const py::object& grad, float lr, float weight_decay, float l1) {
  const auto o = operands(param, grad, {});
  const int nt = lf::num_threads();
  py::gil_scoped_release release;
  lf::sgd_step_cpu(o.param.data, o.grad.data, o.param.n, lr, weight_decay, l1, nt);
}

void momentum(const py::object& param, const py::object& grad, const py::object& buf, float lr,
              float mu, bool nesterov, float weight_decay, float l1) {
  const auto o = operands(param, grad, {{&buf, "momentum_buffer"}});
  const int nt = lf::num_threads();
  py::gil_scoped_release release;
  if (nesterov) {
    lf::nesterov_step_cpu(o.param.data, o.states[0].data, o.grad.data, o.param.n, lr, mu,
                          weight_decay, l1, nt);
  } else {
    lf::momentum_step_cpu(o.param.data, o.states[0].data, o.grad.data, o.param.n, lr, mu,
                          weight_decay, l1, nt);
  }
}

void adagrad(const py::object& param, const py::object& grad, const py::object& sum_sq, float lr,
             float eps, float weight_decay, float l1) {
  const auto o = operands(param, grad, {{&sum_sq, "sum"}});
  const int nt = lf::num_threads();
  py::gil_scoped_release release;
  lf::adagrad_step_cpu(o.param.data, o.states[0].data, o.grad.data, o.param.n, lr, eps,
                       weight_decay, l1, nt);
}

void rmsprop(const py::object& param, const py::object& grad, const py::object& square_avg,
             const py::object& buf, float lr, float alpha, float eps, float mu, float weight_decay,
             float l1) {
  if (mu != 0.0f && buf.is_none()) {
    throw py::value_error("rmsprop with momentum > 0 needs a momentum_buffer array");
  }
  const auto o = buf.is_none() ? operands(param, grad, {{&square_avg, "square_avg"}})
                               : operands(param, grad,
                                          {{&square_avg, "square_avg"}, {&buf, "momentum_buffer"}});
  float* b = o.states.size() > 1 ? o.states[1].data : nullptr;
  const int nt = lf::num_threads();
  py::gil_scoped_release release;
  lf::rmsprop_step_cpu(o.param.data, o.states[0].data, b, o.grad.data, o.param.n, lr, alpha, eps,
                       mu, weight_decay, l1, nt);
}

void adam(const py::object& param, const py::object& grad, const py::object& exp_avg,
          const py::object& exp_avg_sq, int64_t step, float lr, float beta1, float beta2, float eps,
          float weight_decay, float l1) {
  const auto o = operands(param, grad, {{&exp_avg, "exp_avg"}, {&exp_avg_sq, "exp_avg_sq"}});
  const int nt = lf::num_threads();
  py::gil_scoped_release release;
  lf::adam_step_cpu(o.param.data, o.states[0].data, o.states[1].data, o.grad.data, o.param.n, step,
                    lr, beta1, beta2, eps, weight_decay, l1, nt);
}

void adadelta(const py::object& param, const py::object& grad, const py::object& square_avg,
              const py::object& acc_delta, float lr, float rho, float eps, float weight_decay,
              float l1) {
  const auto o = operands(param, grad, {{&square_avg, "square_avg"}, {&acc_delta, "acc_delta"}});
  const int nt = lf::num_threads();
  py::gil_scoped_release release;
  lf::adadelta_step_cpu(o.param.data, o.states[0].data, o.states[1].data, o.grad.data, o.param.n,
                        lr, rho, eps, weight_decay, l1, nt);
}

int64_t max_norm(const py::object& W, float max_norm, int axis) {
  const auto w = operand(W, "W", /*writable=*/true);
  if (w.arr.ndim() != 2) {
    throw py::value_error("W must be 2-D, got shape " + shape_str(w.arr));
  }
  if (axis != 0 && axis != 1) throw py::value_error("axis must be 0 or 1");
  const int64_t rows = w.arr.shape(0), cols = w.arr.shape(1);
  const int nt = lf::num_threads();
  py::gil_scoped_release release;
  return axis == 0 ? lf::max_norm_columns_cpu(w.data, rows, cols, max_norm, nt)
                   : lf::max_norm_rows_cpu(w.data, rows, cols, max_norm, nt);
}

// The CUDA kernels on host arrays (copied to the device, updated, copied back), for the device
// tests. Same in-place contract as the CPU entries.
void optim_cuda_step(const std::string& rule, const py::object& param, const py::object& grad,
                     const py::object& state0, const py::object& state1, float lr, float momentum,
                     float alpha, float rho, float beta1, float beta2, float eps,
                     float weight_decay, float l1, int64_t step, int config) {
  const auto c = lf::bind::optim_cuda_call(rule, param, grad, state0, state1, momentum);
  const lf::OptimHyper h =
      lf::bind::optim_hyper(lr, momentum, alpha, rho, beta1, beta2, eps, weight_decay, l1, step);
  py::gil_scoped_release release;
  lf::optim_step_cuda_from_host(c.rule, c.ops.param.data, c.state0, c.state1, c.ops.grad.data,
                                c.ops.param.n, h, config);
}

int64_t optim_cuda_max_norm(const py::object& W, float max_norm, int axis, int config) {
  const py::array w = lf::bind::max_norm_matrix(W, axis);
  float* wp = lf::bind::mptr<float>(w);
  const int64_t rows = w.shape(0), cols = w.shape(1);
  py::gil_scoped_release release;
  return lf::max_norm_cuda_from_host(wp, rows, cols, max_norm, axis, config);
}

}  // namespace

void bind_optim(py::module_& m) {
  using py::arg;
#define LF_IN_PLACE                                                                  \
  " Updates param and the state arrays in place (float32, C-contiguous, same shape " \
  "as param, no shared memory); releases the GIL."
  m.def("optim_sgd", &sgd, arg("param"), arg("grad"), arg("lr"), arg("weight_decay") = 0.0f,
        arg("l1") = 0.0f, "p -= lr * (g + weight_decay*p + l1*sign(p))." LF_IN_PLACE);
  m.def("optim_momentum", &momentum, arg("param"), arg("grad"), arg("momentum_buffer"), arg("lr"),
        arg("momentum"), arg("nesterov") = false, arg("weight_decay") = 0.0f, arg("l1") = 0.0f,
        "b = mu*b + g; p -= lr*b (nesterov: p -= lr*(g + mu*b))." LF_IN_PLACE);
  m.def("optim_adagrad", &adagrad, arg("param"), arg("grad"), arg("sum"), arg("lr"), arg("eps"),
        arg("weight_decay") = 0.0f, arg("l1") = 0.0f,
        "s += g^2; p -= lr*g/(sqrt(s)+eps)." LF_IN_PLACE);
  m.def("optim_rmsprop", &rmsprop, arg("param"), arg("grad"), arg("square_avg"),
        arg("momentum_buffer"), arg("lr"), arg("alpha"), arg("eps"), arg("momentum") = 0.0f,
        arg("weight_decay") = 0.0f, arg("l1") = 0.0f,
        "RMSProp (momentum_buffer may be None when momentum == 0)." LF_IN_PLACE);
  m.def(
      "optim_adam", &adam, arg("param"), arg("grad"), arg("exp_avg"), arg("exp_avg_sq"),
      arg("step"), arg("lr"), arg("beta1"), arg("beta2"), arg("eps"), arg("weight_decay") = 0.0f,
      arg("l1") = 0.0f,
      "Bias-corrected Adam (L2 added to the gradient); step >= 1 counts this update." LF_IN_PLACE);
  m.def("optim_adadelta", &adadelta, arg("param"), arg("grad"), arg("square_avg"), arg("acc_delta"),
        arg("lr"), arg("rho"), arg("eps"), arg("weight_decay") = 0.0f, arg("l1") = 0.0f,
        "AdaDelta." LF_IN_PLACE);
  m.def("optim_max_norm", &max_norm, arg("W"), arg("max_norm"), arg("axis") = 1,
        "Rescale, in place, every weight vector of the float32 C-contiguous matrix W whose L2 "
        "norm exceeds max_norm to norm max_norm: rows (axis=1, norms over axis 1; W stored "
        "(out_features, in_features) as lf.nn.Linear does) or columns (axis=0; W stored "
        "(in_features, out_features) as for lf.ops.linear). Returns the number rescaled.");
  m.def("_optim_cuda_step", &optim_cuda_step, arg("rule"), arg("param"), arg("grad"),
        arg("state0") = py::none(), arg("state1") = py::none(), py::kw_only(), arg("lr"),
        arg("momentum") = 0.0f, arg("alpha") = 0.0f, arg("rho") = 0.0f, arg("beta1") = 0.0f,
        arg("beta2") = 0.0f, arg("eps") = 0.0f, arg("weight_decay") = 0.0f, arg("l1") = 0.0f,
        arg("step") = 1, arg("config") = 0,
        "Test entry: one CUDA step of `rule` (sgd, momentum, nesterov, adagrad, rmsprop, adam, "
        "adadelta) on host arrays under launch configuration `config`; the states in the order "
        "of the CPU entry's." LF_IN_PLACE " Raises RuntimeError without CUDA.");
  m.def("_optim_cuda_max_norm", &optim_cuda_max_norm, arg("W"), arg("max_norm"), arg("axis") = 1,
        arg("config") = 0,
        "Test entry: optim_max_norm by the CUDA kernels on a host matrix (in place); returns the "
        "number rescaled. Raises RuntimeError without CUDA.");
#undef LF_IN_PLACE
}
