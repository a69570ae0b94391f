// Validation of numpy arrays at the binding boundary. Everything is checked before any data
// pointer is used; failures raise TypeError (wrong kind of array) or ValueError (wrong shape).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

namespace lf::bind {

namespace py = pybind11;

// A 2-D float32 matrix with unit column stride and a row stride (leading dimension) >= cols.
struct MatrixView {
  float* data;
  int64_t rows, cols, ld;
};

inline std::string dtype_str(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

inline MatrixView matrix_view(const py::array& a, const char* name, bool writable = false) {
  if (!a.dtype().is(py::dtype::of<float>())) {
    throw py::type_error(std::string(name) + " must be a float32 array, got dtype " + dtype_str(a));
  }
  if (a.ndim() != 2) {
    throw py::value_error(std::string(name) + " must be 2-D, got " + std::to_string(a.ndim()) +
                          "-D");
  }
  if (writable && !a.writeable()) {
    throw py::value_error(std::string(name) + " must be writable");
  }
  const int64_t rows = a.shape(0), cols = a.shape(1);
  const int64_t s0 = a.strides(0), s1 = a.strides(1);
  const auto addr = reinterpret_cast<std::uintptr_t>(a.data());
  const bool unit_cols = cols <= 1 || s1 == static_cast<int64_t>(sizeof(float));
  const bool rows_ok = rows <= 1 || (s0 > 0 && s0 % static_cast<int64_t>(sizeof(float)) == 0 &&
                                     s0 / static_cast<int64_t>(sizeof(float)) >= cols);
  const bool empty = rows == 0 || cols == 0;  // no element is read: strides do not matter
  if (!empty && (!unit_cols || !rows_ok || addr % alignof(float) != 0)) {
    throw py::value_error(std::string(name) +
                          " must be a row-major float32 matrix with unit column stride");
  }
  const int64_t ld =
      (rows <= 1 || empty) ? std::max<int64_t>(cols, 1) : s0 / static_cast<int64_t>(sizeof(float));
  return {static_cast<float*>(const_cast<void*>(a.data())), rows, cols, std::max<int64_t>(ld, 1)};
}

// A 1-D float32 contiguous vector of the given length.
inline const float* vector_view(const py::array& a, const char* name, int64_t length) {
  if (!a.dtype().is(py::dtype::of<float>())) {
    throw py::type_error(std::string(name) + " must be a float32 array, got dtype " + dtype_str(a));
  }
  if (a.ndim() != 1 || a.shape(0) != length) {
    throw py::value_error(std::string(name) + " must have shape (" + std::to_string(length) + ",)");
  }
  if (length > 1 && a.strides(0) != static_cast<int64_t>(sizeof(float))) {
    throw py::value_error(std::string(name) + " must be contiguous");
  }
  return static_cast<const float*>(a.data());
}

}  // namespace lf::bind
