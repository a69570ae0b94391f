// Bindings of the counter-based RNG: one Philox4x32-10 block (core/rng.h) and arrays of uniform
// draws (ops/philox.h). seed, stream and offset are Python integers in [0, 2**64) (TypeError for
// non-integers, ValueError when out of range); the GIL is released while an array is filled.
// Also the CUDA sibling: _C._uniform_cuda (host arrays, for the device tests) and
// _C.device.uniform (device pointers, bindings/device_args.h).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bindings/array_check.h"
#include "bindings/device_args.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "ops/philox.h"

namespace py = pybind11;

namespace {

using lf::bind::type_name;
using lf::bind::uint_arg;

py::array uniform(const py::object& shape_obj, const py::object& seed_obj,
                  const py::object& stream_obj, const py::object& offset_obj, bool naive) {
  std::vector<py::ssize_t> shape;
  auto dim = [](const py::handle& d) -> py::ssize_t {
    if (PyBool_Check(d.ptr()) || !PyIndex_Check(d.ptr())) {
      throw py::type_error("shape entries must be ints, got " + type_name(d));
    }
    auto v = py::reinterpret_steal<py::int_>(PyNumber_Index(d.ptr()));
    if (!v) throw py::error_already_set();
    if (v < py::int_(0) || v > py::int_(int64_t{1} << 40)) {
      throw py::value_error("shape entries must be in [0, 2**40], got " +
                            py::str(v).cast<std::string>());
    }
    return v.cast<py::ssize_t>();
  };
  if (py::isinstance<py::tuple>(shape_obj) || py::isinstance<py::list>(shape_obj)) {
    for (const auto& d : py::reinterpret_borrow<py::sequence>(shape_obj)) shape.push_back(dim(d));
  } else {
    shape.push_back(dim(shape_obj));
  }
  const uint64_t seed = uint_arg(seed_obj, "seed", 64);
  const uint64_t stream = uint_arg(stream_obj, "stream", 64);
  const uint64_t offset = uint_arg(offset_obj, "offset", 64);
  int64_t n = 1;
  for (auto d : shape) {
    if (d != 0 && n > (int64_t{1} << 40) / d) throw py::value_error("uniform: shape too large");
    n *= d;
  }
  py::array_t<float> u(shape);
  float* up = u.mutable_data();
  const int nt = lf::num_threads();
  {
    py::gil_scoped_release release;
    if (naive) {
      lf::uniform_naive(up, n, seed, stream, offset);
    } else {
      lf::uniform_cpu(up, n, seed, stream, offset, nt);
    }
  }
  return u;
}

std::vector<uint32_t> words(const py::object& obj, const char* name, size_t count) {
  if (!py::isinstance<py::sequence>(obj) || py::isinstance<py::str>(obj)) {
    throw py::type_error(std::string(name) + " must be a list of " + std::to_string(count) +
                         " ints, got " + type_name(obj));
  }
  const auto seq = py::reinterpret_borrow<py::sequence>(obj);
  if (seq.size() != count) {
    throw py::value_error(std::string(name) + " must have " + std::to_string(count) +
                          " entries, got " + std::to_string(seq.size()));
  }
  std::vector<uint32_t> w;
  for (const auto& x : seq) w.push_back(static_cast<uint32_t>(uint_arg(x, name, 32)));
  return w;
}

// The CUDA kernel on a host array (device buffer, copy out), for the device tests.
py::array uniform_cuda(int64_t n, const py::object& seed_obj, const py::object& stream_obj,
                       const py::object& offset_obj, int config) {
  if (n < 0 || n > (int64_t{1} << 40)) {
    throw py::value_error("n must be in [0, 2**40], got " + std::to_string(n));
  }
  const uint64_t seed = uint_arg(seed_obj, "seed", 64);
  const uint64_t stream = uint_arg(stream_obj, "stream", 64);
  const uint64_t offset = uint_arg(offset_obj, "offset", 64);
  py::array_t<float> u(static_cast<py::ssize_t>(n));
  float* up = u.mutable_data();
  {
    py::gil_scoped_release release;
    lf::uniform_cuda_from_host(up, n, seed, stream, offset, config);
  }
  return u;
}

py::list philox(const py::object& ctr_obj, const py::object& key_obj) {
  const auto c = words(ctr_obj, "ctr", 4);
  const auto k = words(key_obj, "key", 2);
  const auto out = lf::philox4x32_10({c[0], c[1], c[2], c[3]}, {k[0], k[1]});
  py::list r;
  for (uint32_t x : out) r.append(py::int_(x));
  return r;
}

}  // namespace

void bind_philox(py::module_& m) {
  m.def("philox4x32_10", &philox, py::arg("ctr"), py::arg("key"),
        "Philox4x32-10 block: ctr (4 uint32 ints), key (2 uint32 ints) -> list of 4 ints.");
  m.def("uniform", &uniform, py::arg("shape"), py::arg("seed"), py::arg("stream"),
        py::arg("offset") = 0, py::arg("naive") = false,
        "float32 array of the given shape (int or tuple) with element i = "
        "uniform01(seed, stream, offset + i) in [0, 1), 24 random bits. naive=True runs the "
        "one-draw-per-element reference.");
  m.def("_uniform_cuda", &uniform_cuda, py::arg("n"), py::arg("seed"), py::arg("stream"),
        py::arg("offset") = 0, py::arg("config") = 0,
        "Test entry: the CUDA uniform kernel (n draws, as uniform(n, seed, stream, offset)) under "
        "launch configuration `config`, copied back to a host array. Raises RuntimeError without "
        "CUDA.");

  using u = std::uintptr_t;
  auto d = lf::bind::device_module(m);
  d.def(
      "uniform",
      [](int device, u stream, u out, int64_t n, uint64_t seed, uint64_t stream_id,
         uint64_t offset) {
        lf::bind::launch_on(device, stream, [&](void* s) {
          lf::uniform_cuda(lf::bind::dptr<float>(out), n, seed, stream_id, offset, s);
        });
      },
      py::arg("device"), py::arg("stream"), py::arg("u"), py::arg("n"), py::arg("seed"),
      py::arg("stream_id"), py::arg("offset"),
      "uniform_cuda on a device pointer (ops/philox.h): u[i] = uniform01(seed, stream_id, "
      "offset + i) for i < n; `stream` is the CUDA stream.");
}
