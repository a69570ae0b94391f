// Bindings of the t-SNE perplexity calibration kernel (ops/tsne_affinity.h). Inputs are
// validated before any pointer is used (TypeError: not an array / wrong dtype; ValueError:
// layout, shape, parameters, non-finite D); outputs are fresh arrays and the GIL is released
// around the kernel.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "bindings/array_check.h"
#include "core/parallel.h"
#include "ops/tsne_affinity.h"

namespace py = pybind11;

namespace {

using lf::bind::array_arg;

py::tuple tsne_perplexity(const py::object& d_obj, double perplexity, double tol, int max_iter) {
  const auto D = array_arg<float>(d_obj, "D", 2, "(rows, k squared neighbour distances)");
  const int64_t rows = D.shape(0), k = D.shape(1);
  if (k < 1) throw py::value_error("D must have at least one column (k >= 1)");
  py::array_t<float> P({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(k)});
  py::array_t<float> beta(static_cast<py::ssize_t>(rows));
  float* pp = P.mutable_data();
  float* bp = beta.mutable_data();
  const float* dp = static_cast<const float*>(D.data());
  const int nt = lf::num_threads();
  {
    py::gil_scoped_release release;
    lf::tsne_perplexity_cpu(pp, bp, dp, rows, k, perplexity, tol, max_iter, nt);
  }
  return py::make_tuple(std::move(P), std::move(beta));
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
}
