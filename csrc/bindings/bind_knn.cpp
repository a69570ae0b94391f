// Bindings of the exact kNN kernel and its oracle (ops/knn.h). Inputs
// are validated before any pointer is used (TypeError: not an array / wrong dtype; ValueError:
// layout, shape, parameters, non-finite values); outputs are fresh arrays and the GIL is
// released around the kernels.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <limits>
#include <string>
#include <utility>

#include "bindings/array_check.h"
#include "bindings/device_args.h"
#include "bindings/sigint.h"
#include "core/parallel.h"
#include "ops/knn.h"

namespace py = pybind11;

namespace {

using lf::bind::array_arg;

// Checks X and k; returns (n, d).
std::pair<int64_t, int64_t> knn_shape(const py::array& X, int64_t k) {
  const int64_t n = X.shape(0), d = X.shape(1);
  if (d < 1)
    throw py::value_error("X must have at least one feature (column), got shape " +
                          lf::bind::shape_str(X));
  if (k < 1 || k > n - 1) {
    throw py::value_error("k must satisfy 1 <= k <= n - 1 = " + std::to_string(n - 1) + ", got " +
                          std::to_string(k));
  }
  // Outputs n x k of 8-byte elements (k < n, and n * d elements of X already exist).
  if (k > std::numeric_limits<int64_t>::max() / 8 / n) {
    throw py::value_error("outputs of shape (" + std::to_string(n) + ", " + std::to_string(k) +
                          ") overflow a 64-bit size");
  }
  return {n, d};
}

py::tuple knn(const py::object& x_obj, int64_t k) {
  py::array X = array_arg<float>(x_obj, "X", 2, "(n_samples, n_features)");
  const auto [n, d] = knn_shape(X, k);
  py::array_t<int64_t> idx({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(k)});
  py::array_t<float> dist({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(k)});
  int64_t* ip = idx.mutable_data();
  float* dp = dist.mutable_data();
  const float* xp = static_cast<const float*>(X.data());
  const int nt = lf::num_threads();
  lf::bind::SigintScope sigint;  // seconds at n = 70,000: Ctrl-C stops it between blocks
  {
    py::gil_scoped_release release;
    lf::knn_cpu(ip, dp, xp, n, d, k, nt);
  }
  sigint.throw_if_interrupted();
  return py::make_tuple(std::move(idx), std::move(dist));
}

py::tuple knn_naive(const py::object& x_obj, int64_t k) {
  py::array X = array_arg<float>(x_obj, "X", 2, "(n_samples, n_features)");
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

// The CUDA pipeline on host arrays (copies in and out), for the device tests.
py::tuple knn_cuda(const py::object& x_obj, int64_t k, int64_t tile_rows, int config) {
  py::array X = array_arg<float>(x_obj, "X", 2, "(n_samples, n_features)");
  const auto [n, d] = knn_shape(X, k);
  if (tile_rows < 0)
    throw py::value_error("tile_rows must be >= 0, got " + std::to_string(tile_rows));
  py::array_t<int64_t> idx({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(k)});
  py::array_t<float> dist({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(k)});
  int64_t* ip = idx.mutable_data();
  float* dp = dist.mutable_data();
  const float* xp = static_cast<const float*>(X.data());
  {
    py::gil_scoped_release release;
    lf::knn_cuda_from_host(ip, dp, xp, n, d, k, tile_rows, config);
  }
  return py::make_tuple(std::move(idx), std::move(dist));
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
  m.def("_knn_cuda", &knn_cuda, py::arg("X"), py::arg("k"), py::arg("tile_rows") = 0,
        py::arg("config") = 0,
        "Test entry: the CUDA kNN pipeline (device GEMM tiles of tile_rows query rows, 0: "
        "default) on host arrays under launch configuration `config`; non-finite X or an "
        "overflowing squared norm raises ValueError (from the device's flag). Raises "
        "RuntimeError without CUDA.");

  using lf::bind::dptr;
  using lf::bind::launch_on;
  using u = std::uintptr_t;
  auto dm = lf::bind::device_module(m);
  dm.def(
      "knn",
      [](int device, u stream, u indices, u sq_distances, u error_flag, u X, int64_t n, int64_t d,
         int64_t k) {
        launch_on(device, stream, [&](void* s) {
          lf::knn_cuda(dptr<int64_t>(indices), dptr<float>(sq_distances), dptr<int32_t>(error_flag),
                       dptr<const float>(X), n, d, k, s);
        });
      },
      py::arg("device"), py::arg("stream"), py::arg("indices"), py::arg("sq_distances"),
      py::arg("error_flag"), py::arg("X"), py::arg("n"), py::arg("d"), py::arg("k"),
      "knn_cuda on device pointers (ops/knn.h): indices int64 and sq_distances float32 (n, k), "
      "error_flag one int32 (0 or null: not reported) set to 1 for non-finite X or an "
      "overflowing squared norm; X float32 (n, d).");
}
