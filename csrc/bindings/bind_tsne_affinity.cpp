// Bindings of the t-SNE perplexity calibration kernel (ops/tsne_affinity.h), its CUDA sibling on
// host arrays (_C._tsne_perplexity_cuda) and on device pointers (_C.device.tsne_perplexity).
// Inputs are validated before any pointer is used (TypeError: not an array / wrong dtype;
// ValueError: layout, shape, parameters, non-finite D); outputs are fresh arrays and the GIL is
// released around the kernel.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "bindings/array_check.h"
#include "bindings/device_args.h"
#include "core/parallel.h"
#include "ops/tsne_affinity.h"

namespace py = pybind11;

namespace {

using lf::bind::array_arg;
using lf::bind::dptr;
using lf::bind::launch_on;
using u = std::uintptr_t;

py::array distances_arg(const py::object& d_obj) {
  auto D = array_arg<float>(d_obj, "D", 2, "(rows, k squared neighbour distances)");
  if (D.shape(1) < 1) throw py::value_error("D must have at least one column (k >= 1)");
  return D;
}

// (P, beta) of a calibration of the rows of D, computed by run(P, beta, D, rows, k) without the
// GIL.
template <class Run>
py::tuple perplexity_outputs(const py::object& d_obj, Run run) {
  const auto D = distances_arg(d_obj);
  const int64_t rows = D.shape(0), k = D.shape(1);
  py::array_t<float> P({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(k)});
  py::array_t<float> beta(static_cast<py::ssize_t>(rows));
  float* pp = P.mutable_data();
  float* bp = beta.mutable_data();
  const float* dp = static_cast<const float*>(D.data());
  {
    py::gil_scoped_release release;
    run(pp, bp, dp, rows, k);
  }
  return py::make_tuple(std::move(P), std::move(beta));
}

py::tuple tsne_perplexity(const py::object& d_obj, double perplexity, double tol, int max_iter) {
  const int nt = lf::num_threads();
  return perplexity_outputs(d_obj, [&](float* P, float* b, const float* D, int64_t r, int64_t k) {
    lf::tsne_perplexity_cpu(P, b, D, r, k, perplexity, tol, max_iter, nt);
  });
}

// The CUDA kernel on host arrays (RuntimeError without CUDA or without a device).
py::tuple tsne_perplexity_cuda(const py::object& d_obj, double perplexity, double tol, int max_iter,
                               int config) {
  return perplexity_outputs(d_obj, [&](float* P, float* b, const float* D, int64_t r, int64_t k) {
    lf::tsne_perplexity_cuda_from_host(P, b, D, r, k, perplexity, tol, max_iter, config);
  });
}

}  // namespace

void bind_tsne_affinity(py::module_& m) {
  m.def("tsne_perplexity", &tsne_perplexity, py::arg("D"), py::arg("perplexity"),
        py::arg("tol") = 1e-5, py::arg("max_iter") = 200,
        "Per-row t-SNE perplexity calibration. D: (rows, k) float32 C-contiguous squared "
        "distances to the k nearest neighbours (self excluded). Returns (P, beta): P (rows, k) "
        "float32 conditional probabilities exp(-beta d) / sum (rows sum to 1) whose entropy is "
        "log(perplexity) within tol nats; beta (rows,) float32 precisions (0 for rows whose "
        "distances are all equal: uniform P). 0 < perplexity <= k; non-finite D raises "
        "ValueError.");
  m.def("_tsne_perplexity_cuda", &tsne_perplexity_cuda, py::arg("D"), py::arg("perplexity"),
        py::arg("tol") = 1e-5, py::arg("max_iter") = 200, py::arg("config") = 0,
        "tsne_perplexity on the GPU (host arrays in and out; ops/tsne_affinity_cuda.cuh).");
  m.def(
      "_tsne_perplexity_cuda_num_configs", [] { return lf::kTsnePerplexityCudaConfigs; },
      "Number of launch configurations of the CUDA perplexity calibration kernel.");

  // Device pointers (addresses) and a stream.
  auto d = lf::bind::device_module(m);
  d.def(
      "tsne_perplexity",
      [](int device, u stream, u P, u beta, u D, int64_t rows, int64_t k, double perplexity,
         double tol, int max_iter) {
        launch_on(device, stream, [&](void* s) {
          lf::tsne_perplexity_cuda(dptr<float>(P), dptr<float>(beta), dptr<const float>(D), rows, k,
                                   perplexity, tol, max_iter, s);
        });
      },
      py::arg("device"), py::arg("stream"), py::arg("P"), py::arg("beta"), py::arg("D"),
      py::arg("rows"), py::arg("k"), py::arg("perplexity"), py::arg("tol"), py::arg("max_iter"),
      "tsne_perplexity_cuda on device pointers (ops/tsne_affinity.h): P (rows, k) float32, beta "
      "(rows,) float32, D (rows, k) float32 finite squared distances (not checked on the device).");
}
