// Binding of the t-SNE affinity symmetrisation (ops/tsne_symmetrize.h), on the CPU, on host arrays
// through the CUDA kernels (_C._tsne_symmetrize_cuda) and on device pointers
// (_C.device.tsne_symmetrize). Inputs are validated
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
#include "bindings/device_args.h"
#include "core/parallel.h"
#include "ops/tsne_symmetrize.h"

namespace py = pybind11;

namespace {

using lf::bind::array_arg;
using lf::bind::dptr;
using lf::bind::launch_on;
using u = std::uintptr_t;

// A 1-D numpy array that takes ownership of a std::vector (no copy).
template <class T>
py::array_t<T> adopt(std::vector<T>&& v) {
  auto* owned = new std::vector<T>(std::move(v));
  py::capsule owner(owned, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>(static_cast<py::ssize_t>(owned->size()), owned->data(), owner);
}

// indices (n, k) int64 and P_cond (n, k) float32, shapes checked against n.
std::pair<py::array, py::array> symmetrize_args(const py::object& idx_obj, const py::object& p_obj,
                                                int64_t n) {
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
  return {std::move(I), std::move(P)};
}

py::tuple tsne_symmetrize(const py::object& idx_obj, const py::object& p_obj, int64_t n,
                          bool naive) {
  const auto [I, P] = symmetrize_args(idx_obj, p_obj, n);
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

// The CUDA kernels on host arrays (RuntimeError without CUDA or without a device).
py::tuple tsne_symmetrize_cuda(const py::object& idx_obj, const py::object& p_obj, int64_t n,
                               int config) {
  const auto [I, P] = symmetrize_args(idx_obj, p_obj, n);
  const int64_t k = I.shape(1);
  const auto* ip = static_cast<const int64_t*>(I.data());
  const auto* pp = static_cast<const float*>(P.data());
  lf::CsrMatrixF32 csr;
  {
    py::gil_scoped_release release;
    lf::tsne_symmetrize_cuda_from_host(&csr, ip, pp, n, k, config);
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
  m.def("_tsne_symmetrize_cuda", &tsne_symmetrize_cuda, py::arg("indices"), py::arg("P_cond"),
        py::arg("n"), py::arg("config") = 0,
        "tsne_symmetrize on the GPU (host arrays in and out, the exact CSR; "
        "ops/tsne_symmetrize_cuda.cuh). Bitwise equal to the CPU kernel.");
  m.def(
      "_tsne_symmetrize_cuda_num_configs", [] { return lf::kTsneSymmetrizeCudaConfigs; },
      "Number of launch configurations of the CUDA symmetrisation kernels.");

  // Device pointers (addresses) and a stream.
  auto d = lf::bind::device_module(m);
  d.def(
      "tsne_symmetrize",
      [](int device, u stream, u indptr, u indices, u data, u error, u nbr, u P, int64_t n,
         int64_t k) {
        launch_on(device, stream, [&](void* s) {
          lf::tsne_symmetrize_cuda(dptr<int64_t>(indptr), dptr<int64_t>(indices), dptr<float>(data),
                                   dptr<int32_t>(error), dptr<const int64_t>(nbr),
                                   dptr<const float>(P), n, k, s);
        });
      },
      py::arg("device"), py::arg("stream"), py::arg("indptr"), py::arg("indices"), py::arg("data"),
      py::arg("error"), py::arg("nbr"), py::arg("P"), py::arg("n"), py::arg("k"),
      "tsne_symmetrize_cuda on device pointers (ops/tsne_symmetrize.h): indptr (n + 1,) int64, "
      "indices (2 n k,) int64 and data (2 n k,) float32 (capacity; nnz = indptr[n]), error (1,) "
      "int32 (-1 if valid, else the first invalid row; then indptr is all zeros), nbr (n, k) "
      "int64, P (n, k) float32. Enqueued on the stream, not synchronized.");
}
