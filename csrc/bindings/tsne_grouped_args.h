// Argument checks of the t-SNE optimiser step bindings (bind_tsne_grouped.cpp: TsneBarnesHut.step
// and the CUDA step's host-array entries) shared with the emulator module (emu/module.cpp), built
// on bindings/array_check.h. Shapes, layout and scalars only.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "bindings/array_check.h"

namespace lf::bind {

// Y, update, gains: float64 (n, 2) C-contiguous, writable, pairwise disjoint; n < 0 takes n from
// Y. momentum, learning_rate and min_gain finite.
struct TsneStepState {
  py::array Y, update, gains;
  int64_t n;
};

inline TsneStepState tsne_step_state(const py::object& y_obj, const py::object& u_obj,
                                     const py::object& g_obj, int64_t n, double momentum,
                                     double learning_rate, double min_gain) {
  const char* names[3] = {"Y", "update", "gains"};
  const py::object* objs[3] = {&y_obj, &u_obj, &g_obj};
  py::array arr[3];
  for (int a = 0; a < 3; ++a) {
    arr[a] = array_arg<double>(*objs[a], names[a], 2, nullptr, /*writable=*/true);
    if (n < 0) n = arr[a].shape(0);
    if (arr[a].shape(0) != n || arr[a].shape(1) != 2) {
      throw py::value_error(std::string(names[a]) + " must have shape (" + std::to_string(n) +
                            ", 2), got " + shape_str(arr[a]));
    }
  }
  const auto bytes = static_cast<size_t>(n) * 2 * sizeof(double);
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
  return {arr[0], arr[1], arr[2], n};
}

// The gradient given to the CUDA step: float32 (n, 2) C-contiguous.
inline py::array tsne_step_grad(const py::object& obj, int64_t n) {
  py::array g = array_arg<float>(obj, "grad", 2);
  if (g.shape(0) != n || g.shape(1) != 2) {
    throw py::value_error("grad must have shape (" + std::to_string(n) + ", 2), got " +
                          shape_str(g));
  }
  return g;
}

// P as CSR for the CUDA step: indptr int64 (n + 1,), indices int64 (nnz,), pvals float32 (nnz,);
// theta finite and >= 0. Contents are checked by the launchers' host-side checks.
struct TsneStepCsr {
  py::array indptr, indices, pvals;
  int64_t nnz;
};

inline TsneStepCsr tsne_step_csr(const py::object& indptr_obj, const py::object& indices_obj,
                                 const py::object& pvals_obj, int64_t n, double theta) {
  TsneStepCsr c;
  c.indptr = array_arg<int64_t>(indptr_obj, "indptr", 1);
  c.indices = array_arg<int64_t>(indices_obj, "indices", 1);
  c.pvals = array_arg<float>(pvals_obj, "pvals", 1);
  if (c.indptr.shape(0) != n + 1) {
    throw py::value_error("indptr must have length n + 1 = " + std::to_string(n + 1) + ", got " +
                          std::to_string(c.indptr.shape(0)));
  }
  c.nnz = c.indices.shape(0);
  if (c.pvals.shape(0) != c.nnz) {
    throw py::value_error("indices and pvals must have the same length, got " +
                          std::to_string(c.nnz) + " and " + std::to_string(c.pvals.shape(0)));
  }
  if (n < 2)
    throw py::value_error("tsne_step_bh_cuda: need at least 2 points, got n = " +
                          std::to_string(n));
  if (!(std::isfinite(theta) && theta >= 0.0)) {
    throw py::value_error("theta must be finite and >= 0, got " + std::to_string(theta));
  }
  return c;
}

}  // namespace lf::bind
