// Bindings of the GEMM: the CPU kernel, its naive oracle and the CUDA kernel on host arrays
// (copied to and from the device). The Python layer (latentforge.ops) coerces user input; this
// layer re-validates everything (bindings/array_check.h), allocates the output, releases the GIL
// and runs the kernel.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <optional>
#include <string>

#include "bindings/array_check.h"
#include "bindings/sigint.h"
#include "core/parallel.h"
#include "ops/gemm.h"

namespace py = pybind11;

namespace {

py::array gemm_binding(const py::array& A, const py::array& B, const py::object& C_obj,
                       bool trans_a, bool trans_b, float alpha, float beta,
                       const py::object& bias_obj, int act, bool naive) {
  const auto g = lf::bind::gemm_operands(A, B, C_obj, trans_a, trans_b, beta, bias_obj, act);
  const int nt = lf::num_threads();
  // Ctrl-C stops a large product between blocks (below ~1 ms of work the two sigaction calls
  // are not worth it: the call ends before a person could notice).
  std::optional<lf::bind::SigintScope> sigint;
  if (static_cast<double>(g.M) * static_cast<double>(g.N) * static_cast<double>(g.K) >= 1 << 26) {
    sigint.emplace();
  }
  {
    py::gil_scoped_release release;
    if (naive) {
      lf::gemm_forward_naive(g.c.data, g.c.ld, g.a.data, g.a.ld, trans_a, g.b.data, g.b.ld, trans_b,
                             g.M, g.N, g.K, alpha, beta, g.bias, g.act);
    } else {
      lf::gemm_forward_cpu(g.c.data, g.c.ld, g.a.data, g.a.ld, trans_a, g.b.data, g.b.ld, trans_b,
                           g.M, g.N, g.K, alpha, beta, g.bias, g.act, nt);
    }
  }
  if (sigint) sigint->throw_if_interrupted();
  return g.C;
}

py::array gemm_cuda_binding(const py::array& A, const py::array& B, const py::object& C_obj,
                            bool trans_a, bool trans_b, float alpha, float beta,
                            const py::object& bias_obj, int act, int config) {
  if (config < 0 || config >= lf::kGemmCudaConfigs) {
    throw py::value_error("config must be in [0, " + std::to_string(lf::kGemmCudaConfigs) +
                          "), got " + std::to_string(config));
  }
  const auto g = lf::bind::gemm_operands(A, B, C_obj, trans_a, trans_b, beta, bias_obj, act);
  {
    py::gil_scoped_release release;
    lf::gemm_cuda_from_host(g.c.data, g.c.ld, g.a.data, g.a.ld, trans_a, g.b.data, g.b.ld, trans_b,
                            g.M, g.N, g.K, alpha, beta, g.bias, g.act, config);
  }
  return g.C;
}

}  // namespace

void bind_gemm(py::module_& m) {
  m.def("gemm", &gemm_binding, py::arg("A"), py::arg("B"), py::arg("C") = py::none(),
        py::arg("trans_a") = false, py::arg("trans_b") = false, py::arg("alpha") = 1.0f,
        py::arg("beta") = 0.0f, py::arg("bias") = py::none(), py::arg("activation") = 0,
        py::arg("naive") = false,
        "C = act(alpha * op(A) @ op(B) + beta * C + bias) on float32 row-major matrices. "
        "naive=True runs the reference triple loop (double accumulation).");
  m.def("_gemm_cuda", &gemm_cuda_binding, py::arg("A"), py::arg("B"), py::arg("C") = py::none(),
        py::arg("trans_a") = false, py::arg("trans_b") = false, py::arg("alpha") = 1.0f,
        py::arg("beta") = 0.0f, py::arg("bias") = py::none(), py::arg("activation") = 0,
        py::arg("config") = 0,
        "The CUDA GEMM on the current device with copies to and from host arrays, launch "
        "configuration `config` in [0, _gemm_cuda_num_configs()) (RuntimeError without CUDA or "
        "without a device). Same contract as gemm.");
  m.def(
      "_gemm_cuda_num_configs", [] { return lf::kGemmCudaConfigs; },
      "Number of launch configurations of the CUDA GEMM kernel.");
}
