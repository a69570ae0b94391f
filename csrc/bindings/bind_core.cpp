// Build and runtime information, threads, ISA selection, CUDA device queries, and the
// lf.Activation enum shared by every op that applies an activation.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "core/activation.h"
#include "core/cpu_features.h"
#include "core/cuda_runtime.h"
#include "core/parallel.h"

namespace py = pybind11;

void bind_core(py::module_& m) {
  m.def("version", [] { return std::string(LF_VERSION); });
  m.def("compiler", [] { return std::string(LF_COMPILER); });
  m.def("isa_compiled", [] {
#ifdef LF_HAVE_X86_KERNELS
    return std::vector<std::string>{"avx512", "avx2", "scalar"};
#else
    return std::vector<std::string>{"scalar"};
#endif
  });
  m.def("isa_detected", [] { return std::string(lf::isa_name(lf::detected_isa())); });
  m.def("isa_active", [] { return std::string(lf::isa_name(lf::active_isa())); });
  m.def("isa_env_request", &lf::isa_env_request);
  m.def(
      "set_isa",
      [](const std::string& name) {
        return std::string(lf::isa_name(lf::set_isa_cap(lf::parse_isa(name))));
      },
      py::arg("name"), "Cap the SIMD path (avx512 > avx2 > scalar); returns the ISA now used.");
  m.def("openmp", &lf::openmp_enabled);
  m.def("get_num_threads", &lf::num_threads);
  m.def("set_num_threads", &lf::set_num_threads, py::arg("n"));
  m.def("cuda_compiled", &lf::cuda_compiled, "True if the extension was built with CUDA kernels.");
  m.def("cuda_device_count", &lf::cuda_device_count,
        "Number of usable CUDA devices (0 without CUDA, driver or device; never raises).");
  m.def("cuda_device_name", &lf::cuda_device_name, py::arg("device") = 0,
        "Name of a CUDA device (RuntimeError without CUDA).");
  // Every binding taking an activation accepts a member of this enum (or its integer value).
  py::enum_<lf::Activation>(m, "Activation",
                            "Activation fused into the GEMM epilogue / applied "
                            "by the elementwise kernels.")
      .value("none", lf::Activation::none)
      .value("sigmoid", lf::Activation::sigmoid)
      .value("tanh", lf::Activation::tanh)
      .value("relu", lf::Activation::relu);
}
