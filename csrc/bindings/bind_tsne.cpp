// Bindings of the t-SNE perplexity calibration kernel (ops/tsne_affinity.h). Inputs are
// validated before any pointer is used (TypeError: not an array / wrong dtype; ValueError:
// layout, shape, parameters, non-finite D); outputs are fresh arrays and the GIL is released
// around the kernel.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <memory>
#include <cstdint>
#include <string>
#include <utility>

#include "bindings/array_check.h"
#include "core/parallel.h"
#include "ops/tsne_affinity.h"
#include "ops/tsne_bh.h"
#include "ops/tsne_grouped.h"

namespace py = pybind11;

namespace {

py::tuple tsne_perplexity(const py::object& d_obj, double perplexity, double tol, int max_iter) {
  if (!py::isinstance<py::array>(d_obj)) {
    throw py::type_error("D must be a numpy array, got " +
                         py::str(py::type::of(d_obj).attr("__name__")).cast<std::string>());
  }
  auto D = py::reinterpret_borrow<py::array>(d_obj);
  if (!D.dtype().is(py::dtype::of<float>())) {
    throw py::type_error("D must be a float32 array, got dtype " + lf::bind::dtype_str(D));
  }
  if (D.ndim() != 2) {
    throw py::value_error("D must be 2-D (rows x k squared neighbour distances), got " +
                          std::to_string(D.ndim()) + "-D");
  }
  if (!(D.flags() & py::array::c_style)) throw py::value_error("D must be C-contiguous");
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

py::array as_array(const py::object& obj, const char* name) {
  if (!py::isinstance<py::array>(obj)) {
    throw py::type_error(std::string(name) + " must be a numpy array, got " +
                         py::str(py::type::of(obj).attr("__name__")).cast<std::string>());
  }
  return py::reinterpret_borrow<py::array>(obj);
}

// Y: float32 (n, 2) C-contiguous.
py::array embedding(const py::object& y_obj) {
  py::array Y = as_array(y_obj, "Y");
  if (!Y.dtype().is(py::dtype::of<float>())) {
    throw py::type_error("Y must be a float32 array, got dtype " + lf::bind::dtype_str(Y));
  }
  if (Y.ndim() != 2) {
    throw py::value_error("Y must be 2-D (n_samples, n_components), got " +
                          std::to_string(Y.ndim()) + "-D");
  }
  if (Y.shape(1) != 2) {
    throw py::value_error("only 2-D embeddings are supported: Y must have shape (n, 2), got " +
                          lf::bind::shape_str(Y));
  }
  if (!(Y.flags() & py::array::c_style)) throw py::value_error("Y must be C-contiguous");
  return Y;
}

// A 1-D contiguous array of the given dtype.
template <class T>
py::array vector_arg(const py::object& obj, const char* name, const char* dtype_name) {
  py::array a = as_array(obj, name);
  if (!a.dtype().is(py::dtype::of<T>())) {
    throw py::type_error(std::string(name) + " must be a " + dtype_name + " array, got dtype " +
                         lf::bind::dtype_str(a));
  }
  if (a.ndim() != 1) {
    throw py::value_error(std::string(name) + " must be 1-D, got " + std::to_string(a.ndim()) +
                          "-D");
  }
  if (!(a.flags() & py::array::c_style)) {
    throw py::value_error(std::string(name) + " must be contiguous");
  }
  return a;
}

py::tuple tsne_gradient_exact(const py::object& y_obj, const py::object& p_obj,
                              double exaggeration, bool compute_kl) {
  py::array Y = embedding(y_obj);
  py::array P = as_array(p_obj, "P");
  if (!P.dtype().is(py::dtype::of<float>())) {
    throw py::type_error("P must be a float32 array, got dtype " + lf::bind::dtype_str(P));
  }
  const int64_t n = Y.shape(0);
  if (P.ndim() != 2 || P.shape(0) != n || P.shape(1) != n) {
    throw py::value_error("P must have shape (" + std::to_string(n) + ", " + std::to_string(n) +
                          ") to match Y, got " + lf::bind::shape_str(P));
  }
  if (!(P.flags() & py::array::c_style)) throw py::value_error("P must be C-contiguous");
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
                           const py::object& indices_obj, const py::object& pvals_obj,
                           double theta, double exaggeration, bool compute_kl) {
  py::array Y = embedding(y_obj);
  py::array indptr = vector_arg<int64_t>(indptr_obj, "indptr", "int64");
  py::array indices = vector_arg<int64_t>(indices_obj, "indices", "int64");
  py::array pvals = vector_arg<float>(pvals_obj, "pvals", "float32");
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
    lf::tsne_gradient_bh_cpu(gp, &kl, yp, ip, jp, vp, n, nnz, theta, exaggeration, compute_kl,
                             nt);
  }
  return py::make_tuple(std::move(grad), kl);
}

std::unique_ptr<lf::TsneBarnesHut> make_bh(const py::object& indptr_obj,
                                          const py::object& indices_obj,
                                          const py::object& pvals_obj) {
  py::array indptr = vector_arg<int64_t>(indptr_obj, "indptr", "int64");
  py::array indices = vector_arg<int64_t>(indices_obj, "indices", "int64");
  py::array pvals = vector_arg<float>(pvals_obj, "pvals", "float32");
  const int64_t n = indptr.shape(0) - 1;
  if (n < 2) {
    throw py::value_error("TsneBarnesHut: indptr must have length n + 1 with n >= 2 points, got "
                          "length " + std::to_string(indptr.shape(0)));
  }
  const int64_t nnz = indices.shape(0);
  if (pvals.shape(0) != nnz) {
    throw py::value_error("indices and pvals must have the same length, got " +
                          std::to_string(nnz) + " and " + std::to_string(pvals.shape(0)));
  }
  const auto* ip = static_cast<const int64_t*>(indptr.data());
  const auto* jp = static_cast<const int64_t*>(indices.data());
  const float* vp = static_cast<const float*>(pvals.data());
  py::gil_scoped_release release;
  return std::make_unique<lf::TsneBarnesHut>(ip, jp, vp, n, nnz);
}

py::tuple bh_gradient(lf::TsneBarnesHut& self, const py::object& y_obj, double theta,
                      double exaggeration, bool compute_kl) {
  py::array Y = embedding(y_obj);
  const int64_t n = Y.shape(0);
  if (n != self.n()) {
    throw py::value_error("Y has " + std::to_string(n) + " rows but P has " +
                          std::to_string(self.n()));
  }
  py::array_t<float> grad({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(2)});
  float* gp = grad.mutable_data();
  const float* yp = static_cast<const float*>(Y.data());
  const int nt = lf::num_threads();
  double kl = 0.0;
  {
    py::gil_scoped_release release;
    kl = self.gradient(gp, yp, theta, exaggeration, compute_kl, nt);
  }
  return py::make_tuple(std::move(grad), kl);
}

// Y, update, gains: float64 (n, 2) C-contiguous, writeable, pairwise disjoint.
py::tuple bh_step(lf::TsneBarnesHut& self, const py::object& y_obj, const py::object& u_obj,
                  const py::object& g_obj, double theta, double exaggeration, double momentum,
                  double learning_rate, double min_gain, bool compute_kl) {
  const char* names[3] = {"Y", "update", "gains"};
  const py::object* objs[3] = {&y_obj, &u_obj, &g_obj};
  py::array arr[3];
  for (int a = 0; a < 3; ++a) {
    arr[a] = as_array(*objs[a], names[a]);
    if (!arr[a].dtype().is(py::dtype::of<double>())) {
      throw py::type_error(std::string(names[a]) + " must be a float64 array, got dtype " +
                           lf::bind::dtype_str(arr[a]));
    }
    if (arr[a].ndim() != 2 || arr[a].shape(0) != self.n() || arr[a].shape(1) != 2) {
      throw py::value_error(std::string(names[a]) + " must have shape (" +
                            std::to_string(self.n()) + ", 2), got " +
                            lf::bind::shape_str(arr[a]));
    }
    if (!(arr[a].flags() & py::array::c_style)) {
      throw py::value_error(std::string(names[a]) + " must be C-contiguous");
    }
    if (!arr[a].writeable()) {
      throw py::value_error(std::string(names[a]) + " must be writeable (updated in place)");
    }
  }
  const auto bytes = static_cast<size_t>(self.n()) * 2 * sizeof(double);
  for (int a = 0; a < 3; ++a) {
    for (int b = a + 1; b < 3; ++b) {
      const auto* pa = static_cast<const char*>(arr[a].data());
      const auto* pb = static_cast<const char*>(arr[b].data());
      if (pa < pb + bytes && pb < pa + bytes) {
        throw py::value_error(std::string(names[a]) + " and " + names[b] +
                              " must not share memory");
      }
    }
  }
  if (!(std::isfinite(momentum) && std::isfinite(learning_rate) && std::isfinite(min_gain))) {
    throw py::value_error("momentum, learning_rate and min_gain must be finite");
  }
  auto* yp = static_cast<double*>(arr[0].mutable_data());
  auto* up = static_cast<double*>(arr[1].mutable_data());
  auto* gp = static_cast<double*>(arr[2].mutable_data());
  const int nt = lf::num_threads();
  lf::TsneBarnesHut::StepResult r{};
  {
    py::gil_scoped_release release;
    r = self.step(yp, up, gp, theta, exaggeration, momentum, learning_rate, min_gain, compute_kl,
                  nt);
  }
  return py::make_tuple(r.kl, r.finite);
}

}  // namespace

void bind_tsne(py::module_& m) {
  m.def("tsne_perplexity", &tsne_perplexity, py::arg("D"), py::arg("perplexity"),
        py::arg("tol") = 1e-5, py::arg("max_iter") = 200,
        "Per-row t-SNE perplexity calibration. D: (rows, k) float32 C-contiguous squared "
        "distances to the k nearest neighbours (self excluded). Returns (P, beta): P (rows, k) "
        "float32 conditional probabilities exp(-beta d) / sum (rows sum to 1) whose entropy is "
        "log(perplexity) within tol nats; beta (rows,) float32 precisions (0 for rows whose "
        "distances are all equal: uniform P). 0 < perplexity <= k; non-finite D raises "
        "ValueError.");
  m.def("tsne_gradient_exact", &tsne_gradient_exact, py::arg("Y"), py::arg("P"),
        py::arg("exaggeration") = 1.0, py::arg("compute_kl") = true,
        "Exact O(n^2) t-SNE gradient of KL(P || Q) for a 2-D embedding. Y: (n, 2) float32 "
        "C-contiguous; P: (n, n) float32 C-contiguous joint probabilities (symmetric, summing to "
        "1; the diagonal is ignored). Returns (grad, kl): grad (n, 2) float32 = 4 sum_j "
        "(exaggeration p_ij - q_ij) w_ij (y_i - y_j) with w_ij = 1 / (1 + |y_i - y_j|^2), q = w / "
        "sum w; kl = sum p log(p / q) (un-exaggerated P), a float (NaN when compute_kl is False, "
        "which skips two logarithms per entry of P). Double accumulation; bitwise "
        "independent of the thread count.");
  m.def("tsne_gradient_bh", &tsne_gradient_bh, py::arg("Y"), py::arg("indptr"),
        py::arg("indices"), py::arg("pvals"), py::arg("theta") = 0.5,
        py::arg("exaggeration") = 1.0, py::arg("compute_kl") = true,
        "Barnes-Hut t-SNE gradient for a 2-D embedding. Y: (n, 2) float32 C-contiguous; P as CSR "
        "(indptr int64 (n + 1,), indices int64, pvals float32), symmetric, summing to 1. The "
        "attractive term is exact over P; the repulsive term and the normalisation Z use a "
        "quadtree, summarising a cell when side / distance < theta (theta = 0: exact). Returns "
        "(grad (n, 2) float32, kl float), kl computed with the Barnes-Hut Z. Bitwise independent "
        "of the thread count.");
  py::class_<lf::TsneBarnesHut>(m, "TsneBarnesHut",
      "Barnes-Hut t-SNE gradient with group traversal and SIMD evaluation (ops/tsne_grouped.h). "
      "Holds the sparse P, validated once: TsneBarnesHut(indptr int64 (n + 1,), indices int64, "
      "pvals float32).")
      .def(py::init(&make_bh), py::arg("indptr"), py::arg("indices"), py::arg("pvals"))
      .def_property_readonly("n", &lf::TsneBarnesHut::n)
      .def_property_readonly("nnz", &lf::TsneBarnesHut::nnz)
      .def_property_readonly("nbytes", &lf::TsneBarnesHut::nbytes,
                             "Bytes held (P and the working buffers of the last call).")
      .def_property_readonly("last_interactions", &lf::TsneBarnesHut::last_interactions,
                             "Interaction-list entries x points evaluated by the last call.")
      .def_property_readonly(
          "last_timings",
          [](const lf::TsneBarnesHut& self) {
            const auto t = self.last_timings();
            return py::make_tuple(t.tree, t.repulsion, t.attraction);
          },
          "Wall seconds of the last call's tree build, repulsion and attraction phases (with "
          "several threads the tree is usually built during the attraction, whose time then "
          "includes it).")
      .def("gradient", &bh_gradient, py::arg("Y"), py::arg("theta") = 0.5,
           py::arg("exaggeration") = 1.0, py::arg("compute_kl") = true,
           "(grad (n, 2) float32, kl) at Y (n, 2) float32 C-contiguous; kl uses the Barnes-Hut "
           "Z (NaN when compute_kl is False). Bitwise independent of the thread count.")
      .def("step", &bh_step, py::arg("Y"), py::arg("update"), py::arg("gains"),
           py::arg("theta"), py::arg("exaggeration"), py::arg("momentum"),
           py::arg("learning_rate"), py::arg("min_gain") = 0.01, py::arg("compute_kl") = false,
           "One gradient-descent iteration with momentum and gains, in place on Y, update, gains "
           "(float64 (n, 2) C-contiguous): g = gradient(float32(Y)); gains = where(update * g < 0, "
           "gains + 0.2, gains * 0.8) floored at min_gain; update = momentum * update - "
           "learning_rate * gains * g; Y += update. Returns (kl, finite): finite is False (and "
           "nothing is modified) when the gradient has a NaN or Inf.");
}
