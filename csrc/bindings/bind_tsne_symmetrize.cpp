// Binding of the t-SNE affinity symmetrisation (ops/tsne_symmetrize.h). Inputs are validated
// before any pointer is used (TypeError: not an array / wrong dtype; ValueError: layout, shape,
// indices, non-finite P); the CSR arrays are returned without a copy and the GIL is released
// around the kernel.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "bindings/array_check.h"
#include "core/parallel.h"
#include "ops/tsne_symmetrize.h"

namespace py = pybind11;

namespace {

using lf::bind::array_arg;

// A 1-D numpy array that takes ownership of a std::vector (no copy).
template <class T>
py::array_t<T> adopt(std::vector<T>&& v) {
  auto* owned = new std::vector<T>(std::move(v));
  py::capsule owner(owned, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>(static_cast<py::ssize_t>(owned->size()), owned->data(), owner);
}

py::tuple tsne_symmetrize(const py::object& idx_obj, const py::object& p_obj, int64_t n,
                          bool naive) {
  py::array I = array_arg<int64_t>(idx_obj, "indices", 2, "(n, k)");
  py::array P = array_arg<float>(p_obj, "P_cond", 2, "(n, k)");
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
    if (naive) {
      lf::tsne_symmetrize_naive(&csr, ip, pp, n, k);
    } else {
      lf::tsne_symmetrize_cpu(&csr, ip, pp, n, k, nt);
    }
  }
  return py::make_tuple(adopt(std::move(csr.indptr)), adopt(std::move(csr.indices)),
                        adopt(std::move(csr.data)));
}

}  // namespace

void bind_tsne_symmetrize(py::module_& m) {
  m.def("tsne_symmetrize", &tsne_symmetrize, py::arg("indices"), py::arg("P_cond"), py::arg("n"),
        py::arg("naive") = false,
        "CSR of P = (P_cond + P_cond^T) / (2 n) from the kNN graph. indices: (n, k) int64 "
        "C-contiguous, 0 <= j < n, no self index, no index twice in a row; P_cond: (n, k) float32 "
        "C-contiguous, finite, P_cond[i, t] = p_{indices[i, t] | i}. Returns (indptr int64 "
        "(n + 1,), indices int64 (nnz,), data float32 (nnz,)): columns sorted within each row, no "
        "diagonal; entries present in both directions are added in double, divided by 2n in "
        "double and rounded once to float32. Bitwise independent of the thread count. naive=True "
        "runs the sort-all-keys reference (bitwise equal).");
}
