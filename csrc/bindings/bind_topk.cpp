// Bindings of the row-wise top-k (k-sparse) kernel (ops/topk.h). Inputs are validated before
// any pointer is used (TypeError: not an array / wrong dtype; ValueError: layout, shape, k, NaN);
// outputs are fresh arrays and the GIL is released around the kernels.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <utility>

#include "bindings/array_check.h"
#include "bindings/device_args.h"
#include "core/parallel.h"
#include "ops/topk.h"

namespace py = pybind11;

namespace {

constexpr const char* kRows = "(rows, cols): top-k over the last axis";

std::string shape2(const py::array& a) {
  return "(" + std::to_string(a.shape(0)) + ", " + std::to_string(a.shape(1)) + ")";
}

py::array topk_input(const py::object& x_obj, int64_t k) {
  auto x = lf::bind::array_arg<float>(x_obj, "x", 2, kRows);
  const int64_t cols = x.shape(1);
  if (k < 1 || k > cols) {
    throw py::value_error("k must satisfy 1 <= k <= cols = " + std::to_string(cols) + ", got " +
                          std::to_string(k));
  }
  return x;
}

py::tuple topk_rows(const py::object& x_obj, int64_t k, bool naive) {
  const auto x = topk_input(x_obj, k);
  const int64_t rows = x.shape(0), cols = x.shape(1);
  py::array_t<float> y({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(cols)});
  py::array_t<uint8_t> mask({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(cols)});
  float* yp = y.mutable_data();
  uint8_t* mp = mask.mutable_data();
  const float* xp = static_cast<const float*>(x.data());
  const int nt = lf::num_threads();
  {
    py::gil_scoped_release release;
    if (naive) {
      lf::topk_rows_naive(yp, mp, xp, rows, cols, k);
    } else {
      lf::topk_rows_cpu(yp, mp, xp, rows, cols, k, nt);
    }
  }
  return py::make_tuple(std::move(y), std::move(mask));
}

std::pair<py::array, py::array> backward_inputs(const py::object& dy_obj,
                                                const py::object& mask_obj) {
  auto dy = lf::bind::array_arg<float>(dy_obj, "dy", 2, kRows);
  auto mask = lf::bind::array_arg<uint8_t>(mask_obj, "mask", 2, kRows);
  if (dy.shape(0) != mask.shape(0) || dy.shape(1) != mask.shape(1)) {
    throw py::value_error("dy and mask must have the same shape, got " + shape2(dy) + " and " +
                          shape2(mask));
  }
  return {std::move(dy), std::move(mask)};
}

py::array topk_rows_backward(const py::object& dy_obj, const py::object& mask_obj) {
  const auto [dy, mask] = backward_inputs(dy_obj, mask_obj);
  const int64_t rows = dy.shape(0), cols = dy.shape(1);
  py::array_t<float> dx({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(cols)});
  float* dxp = dx.mutable_data();
  const float* dyp = static_cast<const float*>(dy.data());
  const uint8_t* mp = static_cast<const uint8_t*>(mask.data());
  const int nt = lf::num_threads();
  {
    py::gil_scoped_release release;
    lf::topk_rows_backward_cpu(dxp, dyp, mp, rows, cols, nt);
  }
  return dx;
}

// The CUDA kernels on host arrays (copies in and out), for the device tests.
py::tuple topk_rows_cuda(const py::object& x_obj, int64_t k, int config) {
  const auto x = topk_input(x_obj, k);
  const int64_t rows = x.shape(0), cols = x.shape(1);
  py::array_t<float> y({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(cols)});
  py::array_t<uint8_t> mask({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(cols)});
  float* yp = y.mutable_data();
  uint8_t* mp = mask.mutable_data();
  const float* xp = static_cast<const float*>(x.data());
  {
    py::gil_scoped_release release;
    lf::topk_rows_cuda_from_host(yp, mp, xp, rows, cols, k, config);
  }
  return py::make_tuple(std::move(y), std::move(mask));
}

py::array topk_rows_backward_cuda(const py::object& dy_obj, const py::object& mask_obj,
                                  int config) {
  const auto [dy, mask] = backward_inputs(dy_obj, mask_obj);
  const int64_t rows = dy.shape(0), cols = dy.shape(1);
  py::array_t<float> dx({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(cols)});
  float* dxp = dx.mutable_data();
  const float* dyp = static_cast<const float*>(dy.data());
  const uint8_t* mp = static_cast<const uint8_t*>(mask.data());
  {
    py::gil_scoped_release release;
    lf::topk_rows_backward_cuda_from_host(dxp, dyp, mp, rows, cols, config);
  }
  return dx;
}

}  // namespace

void bind_topk(py::module_& m) {
  m.def("topk_rows", &topk_rows, py::arg("x"), py::arg("k"), py::arg("naive") = false,
        "Keep the k largest values of each row of a 2-D float32 C-contiguous array (ties: lower "
        "column index wins) and zero the rest. Returns (y, mask) with mask a uint8 array of the "
        "same shape (1 = kept). 1 <= k <= cols; NaN in x raises ValueError. naive=True: the "
        "full-sort reference.");
  m.def("topk_rows_backward", &topk_rows_backward, py::arg("dy"), py::arg("mask"),
        "dx = mask ? dy : 0 for the uint8 mask returned by topk_rows (same 2-D shape).");
  m.def("_topk_rows_cuda", &topk_rows_cuda, py::arg("x"), py::arg("k"), py::arg("config") = 0,
        "Test entry: the CUDA top-k kernel on host arrays under launch configuration `config`; "
        "same contract as topk_rows (NaN raises ValueError, from the device's flag). Raises "
        "RuntimeError without CUDA.");
  m.def("_topk_rows_backward_cuda", &topk_rows_backward_cuda, py::arg("dy"), py::arg("mask"),
        py::arg("config") = 0,
        "Test entry: the CUDA top-k backward on host arrays. Raises RuntimeError without CUDA.");

  using lf::bind::dptr;
  using lf::bind::launch_on;
  using u = std::uintptr_t;
  auto d = lf::bind::device_module(m);
  d.def(
      "topk_rows",
      [](int device, u stream, u y, u mask, u nan_flag, u x, int64_t rows, int64_t cols,
         int64_t k) {
        launch_on(device, stream, [&](void* s) {
          lf::topk_rows_cuda(dptr<float>(y), dptr<uint8_t>(mask), dptr<int32_t>(nan_flag),
                             dptr<const float>(x), rows, cols, k, s);
        });
      },
      py::arg("device"), py::arg("stream"), py::arg("y"), py::arg("mask"), py::arg("nan_flag"),
      py::arg("x"), py::arg("rows"), py::arg("cols"), py::arg("k"),
      "topk_rows_cuda on device pointers (ops/topk.h): y float32 and mask uint8 (rows, cols), "
      "nan_flag one int32 (0 or null: not reported) set to 1 when a row holds a NaN.");
  d.def(
      "topk_rows_backward",
      [](int device, u stream, u dx, u dy, u mask, int64_t rows, int64_t cols) {
        launch_on(device, stream, [&](void* s) {
          lf::topk_rows_backward_cuda(dptr<float>(dx), dptr<const float>(dy),
                                      dptr<const uint8_t>(mask), rows, cols, s);
        });
      },
      py::arg("device"), py::arg("stream"), py::arg("dx"), py::arg("dy"), py::arg("mask"),
      py::arg("rows"), py::arg("cols"), "topk_rows_backward_cuda on device pointers.");
}
