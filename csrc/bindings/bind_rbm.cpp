// Bindings of the counter-based RNG (core/rng.h) and the RBM Gibbs/free-energy kernels
// (ops/rbm_gibbs.h). Arrays must be float32 and C-contiguous (TypeError: not an array / wrong
// dtype; ValueError: layout, shape, values). seed, stream and offset are Python integers in
// [0, 2**64) (TypeError for non-integers, ValueError when out of range). Outputs are fresh
// arrays; the GIL is released around every kernel.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "bindings/array_check.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "ops/rbm_gibbs.h"

namespace py = pybind11;

namespace {

std::string type_name(const py::handle& obj) {
  return py::str(py::type::of(obj).attr("__name__")).cast<std::string>();
}

// A Python integer (anything with __index__, but not bool) in [0, 2**bits).
uint64_t uint_arg(const py::handle& obj, const char* name, int bits) {
  if (PyBool_Check(obj.ptr()) || !PyIndex_Check(obj.ptr())) {
    throw py::type_error(std::string(name) + " must be an int, got " + type_name(obj));
  }
  auto v = py::reinterpret_steal<py::int_>(PyNumber_Index(obj.ptr()));
  if (!v) throw py::error_already_set();
  const py::int_ limit = py::int_(1).attr("__lshift__")(bits);
  if (v < py::int_(0) || v >= limit) {
    throw py::value_error(std::string(name) + " must satisfy 0 <= " + name + " < 2**" +
                          std::to_string(bits) + ", got " + py::str(v).cast<std::string>());
  }
  return v.cast<unsigned long long>();
}

py::array input(const py::object& obj, const char* name) {
  if (!py::isinstance<py::array>(obj)) {
    throw py::type_error(std::string(name) + " must be a numpy array, got " + type_name(obj));
  }
  auto a = py::reinterpret_borrow<py::array>(obj);
  if (!a.dtype().is(py::dtype::of<float>())) {
    throw py::type_error(std::string(name) + " must be a float32 array, got dtype " +
                         lf::bind::dtype_str(a));
  }
  if (!(a.flags() & py::array::c_style)) {
    throw py::value_error(std::string(name) + " must be C-contiguous");
  }
  return a;
}

using lf::bind::shape_str;

py::array_t<float> empty_like(const py::array& a) {
  std::vector<py::ssize_t> shape(a.shape(), a.shape() + a.ndim());
  return py::array_t<float>(shape);
}

inline const float* cptr(const py::array& a) { return static_cast<const float*>(a.data()); }

py::tuple sigmoid_bernoulli(const py::object& z_obj, const py::object& seed_obj,
                            const py::object& stream_obj, const py::object& offset_obj) {
  const auto z = input(z_obj, "z");
  const uint64_t seed = uint_arg(seed_obj, "seed", 64);
  const uint64_t stream = uint_arg(stream_obj, "stream", 64);
  const uint64_t offset = uint_arg(offset_obj, "offset", 64);
  auto p = empty_like(z);
  auto s = empty_like(z);
  float* pp = p.mutable_data();
  float* sp = s.mutable_data();
  const int64_t n = static_cast<int64_t>(z.size());
  const int nt = lf::num_threads();
  {
    py::gil_scoped_release release;
    lf::sigmoid_bernoulli_cpu(pp, sp, cptr(z), n, seed, stream, offset, nt);
  }
  return py::make_tuple(p, s);
}

py::array bernoulli(const py::object& p_obj, const py::object& seed_obj,
                    const py::object& stream_obj, const py::object& offset_obj) {
  const auto p = input(p_obj, "p");
  const uint64_t seed = uint_arg(seed_obj, "seed", 64);
  const uint64_t stream = uint_arg(stream_obj, "stream", 64);
  const uint64_t offset = uint_arg(offset_obj, "offset", 64);
  auto s = empty_like(p);
  float* sp = s.mutable_data();
  const int64_t n = static_cast<int64_t>(p.size());
  const int nt = lf::num_threads();
  {
    py::gil_scoped_release release;
    lf::bernoulli_cpu(sp, cptr(p), n, seed, stream, offset, nt);  // ValueError on bad p
  }
  return s;
}

py::array uniform(const py::object& shape_obj, const py::object& seed_obj,
                  const py::object& stream_obj, const py::object& offset_obj) {
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
    lf::uniform_cpu(up, n, seed, stream, offset, nt);
  }
  return u;
}

py::array rbm_free_energy(const py::object& V_obj, const py::object& bv_obj,
                          const py::object& Z_obj) {
  const auto V = input(V_obj, "V");
  const auto bv = input(bv_obj, "b_v");
  const auto Z = input(Z_obj, "Z");
  if (V.ndim() != 2) {
    throw py::value_error("V must be 2-D (rows, n_visible), got shape " + shape_str(V));
  }
  if (Z.ndim() != 2) {
    throw py::value_error("Z must be 2-D (rows, n_hidden), got shape " + shape_str(Z));
  }
  const int64_t rows = V.shape(0), nv = V.shape(1), nh = Z.shape(1);
  if (bv.ndim() != 1 || bv.shape(0) != nv) {
    throw py::value_error("b_v must have shape (" + std::to_string(nv) + ",), got " +
                          shape_str(bv));
  }
  if (Z.shape(0) != rows) {
    throw py::value_error("V and Z must have the same number of rows, got " + shape_str(V) +
                          " and " + shape_str(Z));
  }
  py::array_t<float> F(std::vector<py::ssize_t>{rows});
  float* fp = F.mutable_data();
  const int nt = lf::num_threads();
  {
    py::gil_scoped_release release;
    lf::rbm_free_energy_cpu(fp, cptr(V), cptr(bv), cptr(Z), rows, nv, nh, nt);
  }
  return F;
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

py::list philox(const py::object& ctr_obj, const py::object& key_obj) {
  const auto c = words(ctr_obj, "ctr", 4);
  const auto k = words(key_obj, "key", 2);
  const auto out = lf::philox4x32_10({c[0], c[1], c[2], c[3]}, {k[0], k[1]});
  py::list r;
  for (uint32_t x : out) r.append(py::int_(x));
  return r;
}

}  // namespace

void bind_rbm(py::module_& m) {
  m.def("philox4x32_10", &philox, py::arg("ctr"), py::arg("key"),
        "Philox4x32-10 block: ctr (4 uint32 ints), key (2 uint32 ints) -> list of 4 ints.");
  m.def("uniform", &uniform, py::arg("shape"), py::arg("seed"), py::arg("stream"),
        py::arg("offset") = 0,
        "float32 array of the given shape (int or tuple) with element i = "
        "uniform01(seed, stream, offset + i) in [0, 1), 24 random bits.");
  m.def("sigmoid_bernoulli", &sigmoid_bernoulli, py::arg("z"), py::arg("seed"),
        py::arg("stream"), py::arg("offset") = 0,
        "(p, s): p = sigmoid(z) and s = (uniform(z.size, seed, stream, offset) < p) as 0/1 "
        "float32, same shape as z (float32, C-contiguous, any ndim).");
  m.def("bernoulli", &bernoulli, py::arg("p"), py::arg("seed"), py::arg("stream"),
        py::arg("offset") = 0,
        "s = (uniform(p.size, seed, stream, offset) < p) as 0/1 float32; p must lie in [0, 1].");
  m.def("rbm_free_energy", &rbm_free_energy, py::arg("V"), py::arg("b_v"), py::arg("Z"),
        "float32 F of shape (rows,): F[r] = -V[r] . b_v - sum_j softplus(Z[r, j]), with "
        "Z = V @ W.T + b_h from the caller; accumulated in double.");
}
