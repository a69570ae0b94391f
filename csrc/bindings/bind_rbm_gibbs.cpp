// Bindings of the RBM Gibbs and free-energy kernels (ops/rbm_gibbs.h). Arrays must be float32
// and C-contiguous (TypeError: not an array / wrong dtype; ValueError: layout, shape, values).
// seed, stream and offset are Python integers in [0, 2**64) (TypeError for non-integers,
// ValueError when out of range). Outputs are fresh arrays; the GIL is released around every
// kernel.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bindings/array_check.h"
#include "core/parallel.h"
#include "ops/rbm_gibbs.h"

namespace py = pybind11;

namespace {

using lf::bind::array_arg;
using lf::bind::cptr;
using lf::bind::empty_like;
using lf::bind::shape_str;
using lf::bind::uint_arg;

py::tuple sigmoid_bernoulli(const py::object& z_obj, const py::object& seed_obj,
                            const py::object& stream_obj, const py::object& offset_obj,
                            bool naive) {
  const auto z = array_arg<float>(z_obj, "z");
  const uint64_t seed = uint_arg(seed_obj, "seed", 64);
  const uint64_t stream = uint_arg(stream_obj, "stream", 64);
  const uint64_t offset = uint_arg(offset_obj, "offset", 64);
  auto p = empty_like<float>(z);
  auto s = empty_like<float>(z);
  float* pp = p.mutable_data();
  float* sp = s.mutable_data();
  const int64_t n = static_cast<int64_t>(z.size());
  const int nt = lf::num_threads();
  {
    py::gil_scoped_release release;
    if (naive) {
      lf::sigmoid_bernoulli_naive(pp, sp, cptr<float>(z), n, seed, stream, offset);
    } else {
      lf::sigmoid_bernoulli_cpu(pp, sp, cptr<float>(z), n, seed, stream, offset, nt);
    }
  }
  return py::make_tuple(p, s);
}

py::array bernoulli(const py::object& p_obj, const py::object& seed_obj,
                    const py::object& stream_obj, const py::object& offset_obj) {
  const auto p = array_arg<float>(p_obj, "p");
  const uint64_t seed = uint_arg(seed_obj, "seed", 64);
  const uint64_t stream = uint_arg(stream_obj, "stream", 64);
  const uint64_t offset = uint_arg(offset_obj, "offset", 64);
  auto s = empty_like<float>(p);
  float* sp = s.mutable_data();
  const int64_t n = static_cast<int64_t>(p.size());
  const int nt = lf::num_threads();
  {
    py::gil_scoped_release release;
    lf::bernoulli_cpu(sp, cptr<float>(p), n, seed, stream, offset, nt);  // ValueError on bad p
  }
  return s;
}

py::array rbm_free_energy(const py::object& V_obj, const py::object& bv_obj,
                          const py::object& Z_obj) {
  const auto V = array_arg<float>(V_obj, "V", 2, "(rows, n_visible)");
  const auto bv = array_arg<float>(bv_obj, "b_v");
  const auto Z = array_arg<float>(Z_obj, "Z", 2, "(rows, n_hidden)");
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
    lf::rbm_free_energy_cpu(fp, cptr<float>(V), cptr<float>(bv), cptr<float>(Z), rows, nv, nh, nt);
  }
  return F;
}

}  // namespace

void bind_rbm_gibbs(py::module_& m) {
  m.def("sigmoid_bernoulli", &sigmoid_bernoulli, py::arg("z"), py::arg("seed"), py::arg("stream"),
        py::arg("offset") = 0, py::arg("naive") = false,
        "(p, s): p = sigmoid(z) and s = (uniform(z.size, seed, stream, offset) < p) as 0/1 "
        "float32, same shape as z (float32, C-contiguous, any ndim). naive=True: the serial "
        "double-sigmoid reference.");
  m.def("bernoulli", &bernoulli, py::arg("p"), py::arg("seed"), py::arg("stream"),
        py::arg("offset") = 0,
        "s = (uniform(p.size, seed, stream, offset) < p) as 0/1 float32; p must lie in [0, 1].");
  m.def("rbm_free_energy", &rbm_free_energy, py::arg("V"), py::arg("b_v"), py::arg("Z"),
        "float32 F of shape (rows,): F[r] = -V[r] . b_v - sum_j softplus(Z[r, j]), with "
        "Z = V @ W.T + b_h from the caller; accumulated in double.");
}
