// Bindings of the exact kNN kernels and the t-SNE affinity symmetrisation (ops/knn.h). Inputs
// are validated before any pointer is used (TypeError: not an array / wrong dtype; ValueError:
// layout, shape, parameters, non-finite values); outputs are fresh arrays and the GIL is
// released around the kernels.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "bindings/array_check.h"
#include "core/parallel.h"
#include "ops/knn.h"

namespace py = pybind11;

namespace {

py::array as_array(const py::object& obj, const char* name) {
  if (!py::isinstance<py::array>(obj)) {
    throw py::type_error(std::string(name) + " must be a numpy array, got " +
                         py::str(py::type::of(obj).attr("__name__")).cast<std::string>());
  }
  return py::reinterpret_borrow<py::array>(obj);
}

// A 2-D C-contiguous array of dtype T.
template <class T>
py::array matrix_arg(const py::object& obj, const char* name, const char* dtype_name,
                     const char* what) {
  py::array a = as_array(obj, name);
  if (!a.dtype().is(py::dtype::of<T>())) {
    throw py::type_error(std::string(name) + " must be a " + dtype_name + " array, got dtype " +
                         lf::bind::dtype_str(a));
  }
  if (a.ndim() != 2) {
    throw py::value_error(std::string(name) + " must be 2-D " + what + ", got " +
                          std::to_string(a.ndim()) + "-D");
  }
  if (!(a.flags() & py::array::c_style)) {
    throw py::value_error(std::string(name) + " must be C-contiguous");
  }
  return a;
}

// Checks X and k; returns (n, d).
std::pair<int64_t, int64_t> knn_shape(const py::array& X, int64_t k) {
  const int64_t n = X.shape(0), d = X.shape(1);
  if (d < 1) throw py::value_error("X must have at least one feature (column), got shape " +
                                   lf::bind::shape_str(X));
  if (k < 1 || k > n - 1) {
    throw py::value_error("k must satisfy 1 <= k <= n - 1 = " + std::to_string(n - 1) +
                          ", got " + std::to_string(k));
  }
  // Outputs n x k of 8-byte elements (k < n, and n * d elements of X already exist).
  if (k > std::numeric_limits<int64_t>::max() / 8 / n) {
    throw py::value_error("outputs of shape (" + std::to_string(n) + ", " + std::to_string(k) +
                          ") overflow a 64-bit size");
  }
  return {n, d};
}

py::tuple knn(const py::object& x_obj, int64_t k) {
  py::array X = matrix_arg<float>(x_obj, "X", "float32", "(n_samples, n_features)");
  const auto [n, d] = knn_shape(X, k);
  py::array_t<int64_t> idx({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(k)});
  py::array_t<float> dist({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(k)});
  int64_t* ip = idx.mutable_data();
  float* dp = dist.mutable_data();
  const float* xp = static_cast<const float*>(X.data());
  const int nt = lf::num_threads();
  {
    py::gil_scoped_release release;
    lf::knn_cpu(ip, dp, xp, n, d, k, nt);
  }
  return py::make_tuple(std::move(idx), std::move(dist));
}

py::tuple knn_naive(const py::object& x_obj, int64_t k) {
  py::array X = matrix_arg<float>(x_obj, "X", "float32", "(n_samples, n_features)");
  const auto [n, d] = knn_shape(X, k);
  py::array_t<int64_t> idx({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(k)});
  py::array_t<double> dist({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(k)});
  int64_t* ip = idx.mutable_data();
  double* dp = dist.mutable_data();
  const float* xp = static_cast<const float*>(X.data());
  {
    py::gil_scoped_release release;
    lf::knn_naive(ip, dp, xp, n, d, k);
  }
  return py::make_tuple(std::move(idx), std::move(dist));
}

// A 1-D numpy array that takes ownership of a std::vector (no copy).
template <class T>
py::array_t<T> adopt(std::vector<T>&& v) {
  auto* owned = new std::vector<T>(std::move(v));
  py::capsule owner(owned, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>(static_cast<py::ssize_t>(owned->size()), owned->data(), owner);
}

py::tuple tsne_symmetrize(const py::object& idx_obj, const py::object& p_obj, int64_t n) {
  py::array I = matrix_arg<int64_t>(idx_obj, "indices", "int64", "(n, k)");
  py::array P = matrix_arg<float>(p_obj, "P_cond", "float32", "(n, k)");
  if (n < 0) throw py::value_error("n must be >= 0, got " + std::to_string(n));
  if (I.shape(0) != n) {
    throw py::value_error("indices must have n = " + std::to_string(n) + " rows, got shape " +
                          lf::bind::shape_str(I));
  }
  if (P.shape(0) != I.shape(0) || P.shape(1) != I.shape(1)) {
    throw py::value_error("P_cond must have the shape of indices " + lf::bind::shape_str(I) +
                          ", got " + lf::bind::shape_str(P));
  }
  const int64_t k = I.shape(1);
  const auto* ip = static_cast<const int64_t*>(I.data());
  const auto* pp = static_cast<const float*>(P.data());
  const int nt = lf::num_threads();
  lf::CsrMatrixF32 csr;
  {
    py::gil_scoped_release release;
    lf::tsne_symmetrize_cpu(&csr, ip, pp, n, k, nt);
  }
  return py::make_tuple(adopt(std::move(csr.indptr)), adopt(std::move(csr.indices)),
                        adopt(std::move(csr.data)));
}

}  // namespace

void bind_knn(py::module_& m) {
  m.def("knn", &knn, py::arg("X"), py::arg("k"),
        "Exact k nearest neighbours of every row of X among the other rows. X: (n, d) float32 "
        "C-contiguous, finite; 1 <= k <= n - 1. Returns (indices int64 (n, k), sq_distances "
        "float32 (n, k)) in ascending order of (distance, index): ties go to the smaller index. "
        "Distances are the float32 GEMM identity max(0, (|x|^2 + |y|^2) - 2 x.y), consistent "
        "across tiles and symmetric (see csrc/ops/knn.h); bitwise independent of the thread "
        "count.");
  m.def("knn_naive", &knn_naive, py::arg("X"), py::arg("k"),
        "Oracle for knn: exact squared distances accumulated in double, O(n^2 d), "
        "single-threaded. Returns (indices int64 (n, k), sq_distances float64 (n, k)), same "
        "ordering rule.");
  m.def("tsne_symmetrize", &tsne_symmetrize, py::arg("indices"), py::arg("P_cond"), py::arg("n"),
        "CSR of P = (P_cond + P_cond^T) / (2 n) from the kNN graph. indices: (n, k) int64 "
        "C-contiguous, 0 <= j < n, no self index, no index twice in a row; P_cond: (n, k) float32 "
        "C-contiguous, finite, P_cond[i, t] = p_{indices[i, t] | i}. Returns (indptr int64 "
        "(n + 1,), indices int64 (nnz,), data float32 (nnz,)): columns sorted within each row, no "
        "diagonal; entries present in both directions are added in double, divided by 2n in "
        "double and rounded once to float32. Bitwise independent of the thread count.");
}
