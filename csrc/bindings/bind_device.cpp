// latentforge._C.device: the device runtime helpers (pointer ownership, streams, architectures)
// and the device-pointer entry points of the GEMM, the elementwise ops and the optimizer updates.
// Ops added later bind their own device entries next to their host bindings (bind_<op>.cpp,
// through bindings/device_args.h). Callers: latentforge/_device.py only.
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "bindings/device_args.h"
#include "core/cuda_runtime.h"
#include "ops/elementwise.h"
#include "ops/gemm.h"
#include "ops/optim.h"

namespace py = pybind11;
using lf::bind::dptr;
using lf::bind::launch_on;
using u = std::uintptr_t;

namespace {

void optim_step(int device, u stream, int rule, u param, u state0, u state1, u grad, int64_t n,
                float lr, float momentum, float alpha, float rho, float beta1, float beta2,
                float eps, float weight_decay, float l1, int64_t step) {
  auto* p = dptr<float>(param);
  auto* s0 = dptr<float>(state0);
  auto* s1 = dptr<float>(state1);
  const auto* g = dptr<const float>(grad);
  launch_on(device, stream, [&](void* s) {
    switch (static_cast<lf::OptimRule>(rule)) {
      case lf::OptimRule::sgd: return lf::sgd_step_cuda(p, g, n, lr, weight_decay, l1, s);
      case lf::OptimRule::momentum:
        return lf::momentum_step_cuda(p, s0, g, n, lr, momentum, weight_decay, l1, s);
      case lf::OptimRule::nesterov:
        return lf::nesterov_step_cuda(p, s0, g, n, lr, momentum, weight_decay, l1, s);
      case lf::OptimRule::adagrad:
        return lf::adagrad_step_cuda(p, s0, g, n, lr, eps, weight_decay, l1, s);
      case lf::OptimRule::rmsprop:
        return lf::rmsprop_step_cuda(p, s0, s1, g, n, lr, alpha, eps, momentum, weight_decay, l1,
                                     s);
      case lf::OptimRule::adam:
        return lf::adam_step_cuda(p, s0, s1, g, n, step, lr, beta1, beta2, eps, weight_decay, l1,
                                  s);
      case lf::OptimRule::adadelta:
        return lf::adadelta_step_cuda(p, s0, s1, g, n, lr, rho, eps, weight_decay, l1, s);
    }
    throw std::invalid_argument("optim_step: unknown rule " + std::to_string(rule));
  });
}

}  // namespace

void bind_device(py::module_& m) {
  auto d = lf::bind::device_module(m);
  d.def("architectures", &lf::cuda_architectures,
        "CUDA architectures the device kernels were compiled for ('' in a CPU-only build).");
  d.def("pointer_device", &lf::cuda_pointer_device, py::arg("ptr"),
        "Device index owning the memory at ptr, -1 for host memory.");
  d.def("current_device", &lf::cuda_current_device, "The calling thread's current CUDA device.");
  d.def("stream_wait", &lf::cuda_stream_wait, py::arg("consumer"), py::arg("producer"),
        "Order `consumer` after the work enqueued so far on `producer` (no host block).");
  d.def(
      "stream_synchronize",
      [](u stream) {
        py::gil_scoped_release release;
        lf::cuda_stream_synchronize(stream);
      },
      py::arg("stream"), "Block until `stream` is idle.");

  d.def(
      "gemm",
      [](int device, u stream, u C, int64_t ldc, u A, int64_t lda, bool trans_a, u B, int64_t ldb,
         bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, float beta, u bias,
         lf::Activation act) {
        launch_on(device, stream, [&](void* s) {
          lf::gemm_forward_cuda(dptr<float>(C), ldc, dptr<const float>(A), lda, trans_a,
                                dptr<const float>(B), ldb, trans_b, M, N, K, alpha, beta,
                                dptr<const float>(bias), act, s);
        });
      },
      py::arg("device"), py::arg("stream"), py::arg("C"), py::arg("ldc"), py::arg("A"),
      py::arg("lda"), py::arg("trans_a"), py::arg("B"), py::arg("ldb"), py::arg("trans_b"),
      py::arg("M"), py::arg("N"), py::arg("K"), py::arg("alpha"), py::arg("beta"), py::arg("bias"),
      py::arg("activation"), "gemm_forward_cuda on device pointers (ops/gemm.h).");

  d.def(
      "activation_forward",
      [](int device, u stream, u y, u x, int64_t n, lf::Activation act) {
        launch_on(device, stream, [&](void* s) {
          lf::activation_forward_cuda(dptr<float>(y), dptr<const float>(x), n, act, s);
        });
      },
      py::arg("device"), py::arg("stream"), py::arg("y"), py::arg("x"), py::arg("n"),
      py::arg("activation"));
  d.def(
      "activation_backward",
      [](int device, u stream, u dx, u dy, u y, int64_t n, lf::Activation act) {
        launch_on(device, stream, [&](void* s) {
          lf::activation_backward_cuda(dptr<float>(dx), dptr<const float>(dy), dptr<const float>(y),
                                       n, act, s);
        });
      },
      py::arg("device"), py::arg("stream"), py::arg("dx"), py::arg("dy"), py::arg("y"),
      py::arg("n"), py::arg("activation"));

  // The four row-wise kernels share one signature: forward (out, in) and backward (dx, dy, y).
  using RowFwd = void (*)(float*, const float*, int64_t, int64_t, void*);
  using RowBwd = void (*)(float*, const float*, const float*, int64_t, int64_t, void*);
  auto bind_rows = [&d](const char* name, RowFwd fwd, const char* bname, RowBwd bwd) {
    d.def(
        name,
        [fwd](int device, u stream, u y, u x, int64_t rows, int64_t cols) {
          launch_on(device, stream,
                    [&](void* s) { fwd(dptr<float>(y), dptr<const float>(x), rows, cols, s); });
        },
        py::arg("device"), py::arg("stream"), py::arg("y"), py::arg("x"), py::arg("rows"),
        py::arg("cols"));
    d.def(
        bname,
        [bwd](int device, u stream, u dx, u dy, u y, int64_t rows, int64_t cols) {
          launch_on(device, stream, [&](void* s) {
            bwd(dptr<float>(dx), dptr<const float>(dy), dptr<const float>(y), rows, cols, s);
          });
        },
        py::arg("device"), py::arg("stream"), py::arg("dx"), py::arg("dy"), py::arg("y"),
        py::arg("rows"), py::arg("cols"));
  };
  bind_rows("softmax_rows", &lf::softmax_rows_cuda, "softmax_rows_backward",
            &lf::softmax_rows_backward_cuda);
  bind_rows("log_softmax_rows", &lf::log_softmax_rows_cuda, "log_softmax_rows_backward",
            &lf::log_softmax_rows_backward_cuda);

  d.def("optim_step", &optim_step, py::arg("device"), py::arg("stream"), py::arg("rule"),
        py::arg("param"), py::arg("state0"), py::arg("state1"), py::arg("grad"), py::arg("n"),
        py::arg("lr"), py::arg("momentum") = 0.0f, py::arg("alpha") = 0.0f, py::arg("rho") = 0.0f,
        py::arg("beta1") = 0.0f, py::arg("beta2") = 0.0f, py::arg("eps") = 0.0f,
        py::arg("weight_decay") = 0.0f, py::arg("l1") = 0.0f, py::arg("step") = 1,
        "One fused update of rule (0 sgd, 1 momentum, 2 nesterov, 3 adagrad, 4 rmsprop, 5 adam, "
        "6 adadelta) on device pointers; state0/state1 as in optim_step_cuda_from_host.");
  d.def(
      "max_norm",
      [](int device, u stream, u W, u rescaled, int64_t rows, int64_t cols, float max_norm,
         int axis) {
        if (axis != 0 && axis != 1) throw py::value_error("axis must be 0 or 1");
        launch_on(device, stream, [&](void* s) {
          if (axis == 0)
            lf::max_norm_columns_cuda(dptr<float>(W), dptr<int32_t>(rescaled), rows, cols, max_norm,
                                      s);
          else
            lf::max_norm_rows_cuda(dptr<float>(W), dptr<int32_t>(rescaled), rows, cols, max_norm,
                                   s);
        });
      },
      py::arg("device"), py::arg("stream"), py::arg("W"), py::arg("rescaled"), py::arg("rows"),
      py::arg("cols"), py::arg("max_norm"), py::arg("axis"));
}
