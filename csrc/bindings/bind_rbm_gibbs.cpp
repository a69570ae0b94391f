// Bindings of the RBM Gibbs and free-energy kernels (ops/rbm_gibbs.h). Arrays must be float32
// and C-contiguous (TypeError: not an array / wrong dtype; ValueError: layout, shape, values).
// seed, stream and offset are Python integers in [0, 2**64) (TypeError for non-integers,
// ValueError when out of range). Outputs are fresh arrays; the GIL is released around every
// kernel. Also the CUDA siblings: _C._sigmoid_bernoulli_cuda, _C._bernoulli_cuda and
// _C._rbm_free_energy_cuda (host arrays, for the device tests) and _C.device.sigmoid_bernoulli,
// .bernoulli, .rbm_free_energy (device pointers, bindings/device_args.h).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bindings/array_check.h"
#include "bindings/device_args.h"
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

struct FreeEnergyArgs {
  py::array V, bv, Z;
  int64_t rows, nv, nh;
};

FreeEnergyArgs free_energy_args(const py::object& V_obj, const py::object& bv_obj,
                                const py::object& Z_obj) {
  FreeEnergyArgs a{array_arg<float>(V_obj, "V", 2, "(rows, n_visible)"),
                   array_arg<float>(bv_obj, "b_v"),
                   array_arg<float>(Z_obj, "Z", 2, "(rows, n_hidden)"),
                   0,
                   0,
                   0};
  a.rows = a.V.shape(0);
  a.nv = a.V.shape(1);
  a.nh = a.Z.shape(1);
  if (a.bv.ndim() != 1 || a.bv.shape(0) != a.nv) {
    throw py::value_error("b_v must have shape (" + std::to_string(a.nv) + ",), got " +
                          shape_str(a.bv));
  }
  if (a.Z.shape(0) != a.rows) {
    throw py::value_error("V and Z must have the same number of rows, got " + shape_str(a.V) +
                          " and " + shape_str(a.Z));
  }
  return a;
}

py::array rbm_free_energy(const py::object& V_obj, const py::object& bv_obj,
                          const py::object& Z_obj) {
  const auto a = free_energy_args(V_obj, bv_obj, Z_obj);
  py::array_t<float> F(std::vector<py::ssize_t>{a.rows});
  float* fp = F.mutable_data();
  const int nt = lf::num_threads();
  {
    py::gil_scoped_release release;
    lf::rbm_free_energy_cpu(fp, cptr<float>(a.V), cptr<float>(a.bv), cptr<float>(a.Z), a.rows, a.nv,
                            a.nh, nt);
  }
  return F;
}

// ---- the CUDA kernels on host arrays (device buffers, copies in and out), for the device tests

py::tuple sigmoid_bernoulli_cuda(const py::object& z_obj, const py::object& seed_obj,
                                 const py::object& stream_obj, const py::object& offset_obj,
                                 int config) {
  const auto z = array_arg<float>(z_obj, "z");
  const uint64_t seed = uint_arg(seed_obj, "seed", 64);
  const uint64_t stream = uint_arg(stream_obj, "stream", 64);
  const uint64_t offset = uint_arg(offset_obj, "offset", 64);
  auto p = empty_like<float>(z);
  auto s = empty_like<float>(z);
  float* pp = p.mutable_data();
  float* sp = s.mutable_data();
  const int64_t n = static_cast<int64_t>(z.size());
  {
    py::gil_scoped_release release;
    lf::sigmoid_bernoulli_cuda_from_host(pp, sp, cptr<float>(z), n, seed, stream, offset, config);
  }
  return py::make_tuple(p, s);
}

py::object bernoulli_cuda(const py::object& p_obj, const py::object& seed_obj,
                          const py::object& stream_obj, const py::object& offset_obj, int config,
                          bool check) {
  const auto p = array_arg<float>(p_obj, "p");
  const uint64_t seed = uint_arg(seed_obj, "seed", 64);
  const uint64_t stream = uint_arg(stream_obj, "stream", 64);
  const uint64_t offset = uint_arg(offset_obj, "offset", 64);
  auto s = empty_like<float>(p);
  float* sp = s.mutable_data();
  const int64_t n = static_cast<int64_t>(p.size());
  int32_t invalid = 0;
  {
    py::gil_scoped_release release;
    lf::bernoulli_cuda_from_host(sp, check ? nullptr : &invalid, cptr<float>(p), n, seed, stream,
                                 offset, config);  // check: ValueError on bad p
  }
  if (check) return s;
  return py::make_tuple(s, invalid);
}

py::array rbm_free_energy_cuda(const py::object& V_obj, const py::object& bv_obj,
                               const py::object& Z_obj, int config) {
  const auto a = free_energy_args(V_obj, bv_obj, Z_obj);
  py::array_t<float> F(std::vector<py::ssize_t>{a.rows});
  float* fp = F.mutable_data();
  {
    py::gil_scoped_release release;
    lf::rbm_free_energy_cuda_from_host(fp, cptr<float>(a.V), cptr<float>(a.bv), cptr<float>(a.Z),
                                       a.rows, a.nv, a.nh, config);
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

  m.def("_sigmoid_bernoulli_cuda", &sigmoid_bernoulli_cuda, py::arg("z"), py::arg("seed"),
        py::arg("stream"), py::arg("offset") = 0, py::arg("config") = 0,
        "Test entry: the CUDA sigmoid_bernoulli kernel on host arrays under launch configuration "
        "`config` (p computed in place over a device copy of z). Raises RuntimeError without "
        "CUDA.");
  m.def("_bernoulli_cuda", &bernoulli_cuda, py::arg("p"), py::arg("seed"), py::arg("stream"),
        py::arg("offset") = 0, py::arg("config") = 0, py::arg("check") = true,
        "Test entry: the CUDA bernoulli kernel on host arrays (run in place on a device copy of "
        "p). check=True: ValueError, as bernoulli, when the device flag reports an invalid p; "
        "check=False: (s, invalid) as the kernel left them (NaN samples at invalid p). Raises "
        "RuntimeError without CUDA.");
  m.def("_rbm_free_energy_cuda", &rbm_free_energy_cuda, py::arg("V"), py::arg("b_v"), py::arg("Z"),
        py::arg("config") = 0,
        "Test entry: the CUDA free-energy kernel on host arrays under launch configuration "
        "`config`. Raises RuntimeError without CUDA.");

  using u = std::uintptr_t;
  using lf::bind::dptr;
  using lf::bind::launch_on;
  auto d = lf::bind::device_module(m);
  d.def(
      "sigmoid_bernoulli",
      [](int device, u stream, u p, u s, u z, int64_t n, uint64_t seed, uint64_t stream_id,
         uint64_t offset) {
        launch_on(device, stream, [&](void* st) {
          lf::sigmoid_bernoulli_cuda(dptr<float>(p), dptr<float>(s), dptr<const float>(z), n, seed,
                                     stream_id, offset, st);
        });
      },
      py::arg("device"), py::arg("stream"), py::arg("p"), py::arg("s"), py::arg("z"), py::arg("n"),
      py::arg("seed"), py::arg("stream_id"), py::arg("offset"),
      "sigmoid_bernoulli_cuda on device pointers (ops/rbm_gibbs.h); p may equal z.");
  d.def(
      "bernoulli",
      [](int device, u stream, u s, u invalid, u p, int64_t n, uint64_t seed, uint64_t stream_id,
         uint64_t offset) {
        launch_on(device, stream, [&](void* st) {
          lf::bernoulli_cuda(dptr<float>(s), dptr<int32_t>(invalid), dptr<const float>(p), n, seed,
                             stream_id, offset, st);
        });
      },
      py::arg("device"), py::arg("stream"), py::arg("s"), py::arg("invalid"), py::arg("p"),
      py::arg("n"), py::arg("seed"), py::arg("stream_id"), py::arg("offset"),
      "bernoulli_cuda on device pointers (ops/rbm_gibbs.h): `invalid` (an int32 the caller "
      "zeroed, or 0 for none) is set to 1 and s[i] to NaN where p[i] is NaN or outside [0, 1]; "
      "s may equal p.");
  d.def(
      "rbm_free_energy",
      [](int device, u stream, u F, u V, u b_v, u Z, int64_t rows, int64_t n_visible,
         int64_t n_hidden) {
        launch_on(device, stream, [&](void* st) {
          lf::rbm_free_energy_cuda(dptr<float>(F), dptr<const float>(V), dptr<const float>(b_v),
                                   dptr<const float>(Z), rows, n_visible, n_hidden, st);
        });
      },
      py::arg("device"), py::arg("stream"), py::arg("F"), py::arg("V"), py::arg("b_v"),
      py::arg("Z"), py::arg("rows"), py::arg("n_visible"), py::arg("n_hidden"),
      "rbm_free_energy_cuda on device pointers (ops/rbm_gibbs.h).");
}
