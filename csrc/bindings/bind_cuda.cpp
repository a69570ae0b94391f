// Bindings of the CUDA side: build/device queries, the CUDA GEMM on host arrays (copied to and
// from the device) and the same kernel run by the CPU emulator (always available, for tests).
// Arrays are validated exactly as for the CPU GEMM (bindings/array_check.h): float32, 2-D,
// row-major with unit column stride (any row stride >= cols, e.g. C-contiguous or row slices).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <limits>
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

bool overlaps(const py::array& x, const py::array& y) {
  if (x.nbytes() == 0 || y.nbytes() == 0) return false;
  // Conservative byte ranges [first element, last element]: exact for the layouts accepted here.
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

py::array gemm_host(HostGemm fn, const py::array& A, const py::array& B, py::object C_obj,
                    bool trans_a, bool trans_b, float alpha, float beta, py::object bias_obj,
                    int act, int config) {
  const auto a = lf::bind::matrix_view(A, "A");
  const auto b = lf::bind::matrix_view(B, "B");
  const int64_t M = trans_a ? a.cols : a.rows;
  const int64_t K = trans_a ? a.rows : a.cols;
  const int64_t Kb = trans_b ? b.cols : b.rows;
  const int64_t N = trans_b ? b.rows : b.cols;
  if (K != Kb) {
    throw py::value_error("inner dimensions do not match: op(A) is " + std::to_string(M) + "x" +
                          std::to_string(K) + " but op(B) is " + std::to_string(Kb) + "x" +
                          std::to_string(N));
  }
  if (M > 0 && N > std::numeric_limits<int64_t>::max() / static_cast<int64_t>(sizeof(float)) / M) {
    throw py::value_error("output C of shape (" + std::to_string(M) + ", " + std::to_string(N) +
                          ") overflows a 64-bit size");
  }
  if (act < 0 || act > 3) throw py::value_error("activation code must be 0..3");
  if (config < 0 || config >= lf::gemm_cuda_num_configs()) {
    throw py::value_error("config must be in [0, " + std::to_string(lf::gemm_cuda_num_configs()) +
                          "), got " + std::to_string(config));
  }
  py::array C;
  if (C_obj.is_none()) {
    if (beta != 0.0f) throw py::value_error("beta != 0 needs an input C");
    C = py::array_t<float>({M, N});
  } else {
    if (!py::isinstance<py::array>(C_obj)) throw py::type_error("C must be a numpy array or None");
    C = py::reinterpret_borrow<py::array>(C_obj);
  }
  const auto c = lf::bind::matrix_view(C, "C", /*writable=*/true);
  if (c.rows != M || c.cols != N) {
    throw py::value_error("C must have shape (" + std::to_string(M) + ", " + std::to_string(N) +
                          "), got (" + std::to_string(c.rows) + ", " + std::to_string(c.cols) +
                          ")");
  }
  py::array bias_arr;
  const float* bias = nullptr;
  if (!bias_obj.is_none()) {
    if (!py::isinstance<py::array>(bias_obj)) {
      throw py::type_error("bias must be a numpy array or None");
    }
    bias_arr = py::reinterpret_borrow<py::array>(bias_obj);
    bias = lf::bind::vector_view(bias_arr, "bias", N);
  }
  // The kernels read A, B and bias while writing C: an aliased C would race with those reads.
  if (overlaps(C, A) || overlaps(C, B) || (bias && overlaps(C, bias_arr))) {
    throw py::value_error("C must not share memory with A, B or bias");
  }
  {
    py::gil_scoped_release release;
    fn(c.data, c.ld, a.data, a.ld, trans_a, b.data, b.ld, trans_b, M, N, K, alpha, beta, bias,
       static_cast<lf::Activation>(act), config);
  }
  return C;
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
