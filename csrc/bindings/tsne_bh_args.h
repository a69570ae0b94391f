// Argument checks of the t-SNE gradient bindings (bind_tsne_bh.cpp: the CPU kernels and the CUDA
// host-array entries) shared with the emulator module (emu/module.cpp), built on
// bindings/array_check.h. Shapes and scalars only; contents (finite, >= 0, CSR consistency) are
// checked by the kernels' own host-side checks.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "bindings/array_check.h"
#include "bindings/tsne_args.h"

namespace lf::bind {

// Y (n, 2) and a dense P (n, n), both float32 C-contiguous.
struct TsneExactArgs {
  py::array Y, P;
  int64_t n;
};

inline TsneExactArgs tsne_exact_args(const py::object& y_obj, const py::object& p_obj,
                                     const char* who) {
  TsneExactArgs a;
  a.Y = tsne_embedding(y_obj);
  a.P = array_arg<float>(p_obj, "P");
  a.n = a.Y.shape(0);
  if (a.P.ndim() != 2 || a.P.shape(0) != a.n || a.P.shape(1) != a.n) {
    throw py::value_error("P must have shape (" + std::to_string(a.n) + ", " + std::to_string(a.n) +
                          ") to match Y, got " + shape_str(a.P));
  }
  if (a.n < 2) throw py::value_error(std::string(who) + ": need at least 2 points");
  return a;
}

// Y (n, 2) and P as CSR: indptr int64 (n + 1,), indices int64 (nnz,), pvals float32 (nnz,).
struct TsneCsrArgs {
  py::array Y, indptr, indices, pvals;
  int64_t n, nnz;
};

inline TsneCsrArgs tsne_csr_args(const py::object& y_obj, const py::object& indptr_obj,
                                 const py::object& indices_obj, const py::object& pvals_obj,
                                 double theta, const char* who) {
  TsneCsrArgs a;
  a.Y = tsne_embedding(y_obj);
  a.indptr = array_arg<int64_t>(indptr_obj, "indptr", 1);
  a.indices = array_arg<int64_t>(indices_obj, "indices", 1);
  a.pvals = array_arg<float>(pvals_obj, "pvals", 1);
  a.n = a.Y.shape(0);
  if (a.indptr.shape(0) != a.n + 1) {
    throw py::value_error("indptr must have length n + 1 = " + std::to_string(a.n + 1) + ", got " +
                          std::to_string(a.indptr.shape(0)));
  }
  a.nnz = a.indices.shape(0);
  if (a.pvals.shape(0) != a.nnz) {
    throw py::value_error("indices and pvals must have the same length, got " +
                          std::to_string(a.nnz) + " and " + std::to_string(a.pvals.shape(0)));
  }
  if (a.n < 2) throw py::value_error(std::string(who) + ": need at least 2 points");
  if (!(theta >= 0.0) || !std::isfinite(theta)) {
    throw py::value_error("theta must be finite and >= 0, got " + std::to_string(theta));
  }
  return a;
}

}  // namespace lf::bind
