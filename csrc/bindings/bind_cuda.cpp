// Bindings of the CUDA side: build/device queries, the CUDA GEMM on host arrays (copied to and
// from the device) and the same kernel run by the CPU emulator (always available, for tests).
// Arrays are validated exactly as for the CPU GEMM (bindings/array_check.h): float32, 2-D,
// row-major with unit column stride (any row stride >= cols, e.g. C-contiguous or row slices).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "bindings/array_check.h"
#include "core/cuda_runtime.h"
#include "emu/gemm_cuda_emu.h"
#include "ops/gemm.h"

namespace py = pybind11;

namespace {

// gemm_forward_cuda_emulated and gemm_cuda_from_host share this signature (host pointers).
using HostGemm = void (*)(float*, int64_t, const float*, int64_t, bool, const float*, int64_t, bool,
                          int64_t, int64_t, int64_t, float, float, const float*, lf::Activation,
                          int);

py::array gemm_host(HostGemm fn, const py::array& A, const py::array& B, const py::object& C_obj,
                    bool trans_a, bool trans_b, float alpha, float beta,
                    const py::object& bias_obj, int act, int config) {
  if (config < 0 || config >= lf::gemm_cuda_num_configs()) {
    throw py::value_error("config must be in [0, " + std::to_string(lf::gemm_cuda_num_configs()) +
                          "), got " + std::to_string(config));
  }
  const auto g = lf::bind::gemm_operands(A, B, C_obj, trans_a, trans_b, beta, bias_obj, act);
  {
    py::gil_scoped_release release;
    fn(g.c.data, g.c.ld, g.a.data, g.a.ld, trans_a, g.b.data, g.b.ld, trans_b, g.M, g.N, g.K,
       alpha, beta, g.bias, g.act, config);
  }
  return g.C;
}

}  // namespace

void bind_cuda(py::module_& m) {
  const char* gemm_args_doc =
      "C = act(alpha * op(A) @ op(B) + beta * C + bias) on float32 row-major host matrices with "
      "launch configuration `config` in [0, _gemm_cuda_num_configs()); activation 0 none, "
      "1 sigmoid, 2 tanh, 3 relu. Returns C (allocated when None).";
  m.def(
      "_gemm_cuda_emulated",
      [](const py::array& A, const py::array& B, py::object C, bool trans_a, bool trans_b,
         float alpha, float beta, py::object bias, int activation, int config) {
        return gemm_host(&lf::gemm_forward_cuda_emulated, A, B, std::move(C), trans_a, trans_b,
                         alpha, beta, std::move(bias), activation, config);
      },
      py::arg("A"), py::arg("B"), py::arg("C") = py::none(), py::arg("trans_a") = false,
      py::arg("trans_b") = false, py::arg("alpha") = 1.0f, py::arg("beta") = 0.0f,
      py::arg("bias") = py::none(), py::arg("activation") = 0, py::arg("config") = 0,
      (std::string("The CUDA GEMM kernel run on the CPU by the emulator (slow; for tests). ") +
       gemm_args_doc)
          .c_str());
  m.def(
      "_gemm_cuda",
      [](const py::array& A, const py::array& B, py::object C, bool trans_a, bool trans_b,
         float alpha, float beta, py::object bias, int activation, int config) {
        return gemm_host(&lf::gemm_cuda_from_host, A, B, std::move(C), trans_a, trans_b, alpha,
                         beta, std::move(bias), activation, config);
      },
      py::arg("A"), py::arg("B"), py::arg("C") = py::none(), py::arg("trans_a") = false,
      py::arg("trans_b") = false, py::arg("alpha") = 1.0f, py::arg("beta") = 0.0f,
      py::arg("bias") = py::none(), py::arg("activation") = 0, py::arg("config") = 0,
      (std::string("The CUDA GEMM on the current device, with copies to and from host arrays "
                   "(RuntimeError without CUDA or without a device). ") +
       gemm_args_doc)
          .c_str());
  m.def("_cuda_compiled", &lf::cuda_compiled, "True if the extension was built with CUDA kernels.");
  m.def("_cuda_device_count", &lf::cuda_device_count,
        "Number of usable CUDA devices (0 without CUDA, driver or device; never raises).");
  m.def("_cuda_device_name", &lf::cuda_device_name, py::arg("device") = 0,
        "Name of a CUDA device (RuntimeError without CUDA).");
  m.def("_gemm_cuda_num_configs", &lf::gemm_cuda_num_configs,
        "Number of launch configurations of the CUDA GEMM kernel (also emulated).");
}
