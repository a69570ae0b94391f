// Bindings of the reference t-SNE gradients (ops/tsne_bh.h): exact O(n^2) and per-point
// Barnes-Hut. Inputs are validated before any pointer is used (TypeError: not an array / wrong
// dtype; ValueError: layout, shape, parameters); outputs are fresh arrays and the GIL is
// released around the kernels.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "bindings/array_check.h"
#include "bindings/tsne_args.h"
#include "core/parallel.h"
#include "ops/tsne_bh.h"

namespace py = pybind11;

namespace {

using lf::bind::array_arg;
using lf::bind::tsne_embedding;

py::tuple tsne_gradient_exact(const py::object& y_obj, const py::object& p_obj, double exaggeration,
                              bool compute_kl) {
  py::array Y = tsne_embedding(y_obj);
  const auto P = array_arg<float>(p_obj, "P");
  const int64_t n = Y.shape(0);
  if (P.ndim() != 2 || P.shape(0) != n || P.shape(1) != n) {
    throw py::value_error("P must have shape (" + std::to_string(n) + ", " + std::to_string(n) +
                          ") to match Y, got " + lf::bind::shape_str(P));
  }
  if (n < 2) throw py::value_error("tsne_gradient_exact: need at least 2 points");
  py::array_t<float> grad({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(2)});
  float* gp = grad.mutable_data();
  const float* yp = static_cast<const float*>(Y.data());
  const float* pp = static_cast<const float*>(P.data());
  const int nt = lf::num_threads();
  double kl = 0.0;
  {
    py::gil_scoped_release release;
    lf::tsne_gradient_exact_cpu(gp, &kl, yp, pp, n, exaggeration, compute_kl, nt);
  }
  return py::make_tuple(std::move(grad), kl);
}

py::tuple tsne_gradient_bh(const py::object& y_obj, const py::object& indptr_obj,
                           const py::object& indices_obj, const py::object& pvals_obj, double theta,
                           double exaggeration, bool compute_kl) {
  py::array Y = tsne_embedding(y_obj);
  py::array indptr = array_arg<int64_t>(indptr_obj, "indptr", 1);
  py::array indices = array_arg<int64_t>(indices_obj, "indices", 1);
  py::array pvals = array_arg<float>(pvals_obj, "pvals", 1);
  const int64_t n = Y.shape(0);
  if (indptr.shape(0) != n + 1) {
    throw py::value_error("indptr must have length n + 1 = " + std::to_string(n + 1) + ", got " +
                          std::to_string(indptr.shape(0)));
  }
  const int64_t nnz = indices.shape(0);
  if (pvals.shape(0) != nnz) {
    throw py::value_error("indices and pvals must have the same length, got " +
                          std::to_string(nnz) + " and " + std::to_string(pvals.shape(0)));
  }
  if (n < 2) throw py::value_error("tsne_gradient_bh: need at least 2 points");
  if (!(theta >= 0.0) || !std::isfinite(theta)) {
    throw py::value_error("theta must be finite and >= 0, got " + std::to_string(theta));
  }
  py::array_t<float> grad({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(2)});
  float* gp = grad.mutable_data();
  const float* yp = static_cast<const float*>(Y.data());
  const auto* ip = static_cast<const int64_t*>(indptr.data());
  const auto* jp = static_cast<const int64_t*>(indices.data());
  const float* vp = static_cast<const float*>(pvals.data());
  const int nt = lf::num_threads();
  double kl = 0.0;
  {
    py::gil_scoped_release release;
    lf::tsne_gradient_bh_cpu(gp, &kl, yp, ip, jp, vp, n, nnz, theta, exaggeration, compute_kl, nt);
  }
  return py::make_tuple(std::move(grad), kl);
}

}  // namespace

void bind_tsne_bh(py::module_& m) {
  m.def("tsne_gradient_exact", &tsne_gradient_exact, py::arg("Y"), py::arg("P"),
        py::arg("exaggeration") = 1.0, py::arg("compute_kl") = true,
        "Exact O(n^2) t-SNE gradient of KL(P || Q) for a 2-D embedding. Y: (n, 2) float32 "
        "C-contiguous; P: (n, n) float32 C-contiguous joint probabilities (symmetric, summing to "
        "1; the diagonal is ignored). Returns (grad, kl): grad (n, 2) float32 = 4 sum_j "
        "(exaggeration p_ij - q_ij) w_ij (y_i - y_j) with w_ij = 1 / (1 + |y_i - y_j|^2), q = w / "
        "sum w; kl = sum p log(p / q) (un-exaggerated P), a float (NaN when compute_kl is False, "
        "which skips two logarithms per entry of P). Double accumulation; bitwise "
        "independent of the thread count.");
  m.def("tsne_gradient_bh", &tsne_gradient_bh, py::arg("Y"), py::arg("indptr"), py::arg("indices"),
        py::arg("pvals"), py::arg("theta") = 0.5, py::arg("exaggeration") = 1.0,
        py::arg("compute_kl") = true,
        "Barnes-Hut t-SNE gradient for a 2-D embedding. Y: (n, 2) float32 C-contiguous; P as CSR "
        "(indptr int64 (n + 1,), indices int64, pvals float32), symmetric, summing to 1. The "
        "attractive term is exact over P; the repulsive term and the normalisation Z use a "
        "quadtree, summarising a cell when side / distance < theta (theta = 0: exact). Returns "
        "(grad (n, 2) float32, kl float), kl computed with the Barnes-Hut Z. Bitwise independent "
        "of the thread count.");
}
