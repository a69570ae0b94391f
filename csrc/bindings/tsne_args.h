// Argument checks shared by the t-SNE gradient bindings (bind_tsne_bh.cpp,
// bind_tsne_grouped.cpp), built on the one validator of bindings/array_check.h.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "bindings/array_check.h"

namespace lf::bind {

// Y: float32 (n, 2) C-contiguous.
inline py::array tsne_embedding(const py::object& y_obj) {
  py::array Y = array_arg<float>(y_obj, "Y", 2, "(n_samples, n_components)");
  if (Y.shape(1) != 2) {
    throw py::value_error("only 2-D embeddings are supported: Y must have shape (n, 2), got " +
                          shape_str(Y));
  }
  return Y;
}

}  // namespace lf::bind
