// Bindings of the grouped Barnes-Hut t-SNE gradient and optimiser step (ops/tsne_grouped.h): the
// TsneBarnesHut class. Inputs are validated before any pointer is used (TypeError: not an array
// / wrong dtype; ValueError: layout, shape, parameters); the GIL is released around the kernels.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "bindings/array_check.h"
#include "bindings/device_args.h"
#include "bindings/tsne_args.h"
#include "bindings/tsne_grouped_args.h"
#include "core/parallel.h"
#include "ops/tsne_grouped.h"

namespace py = pybind11;

namespace {

using lf::bind::array_arg;
using lf::bind::tsne_embedding;

std::unique_ptr<lf::TsneBarnesHut> make_bh(const py::object& indptr_obj,
                                           const py::object& indices_obj,
                                           const py::object& pvals_obj) {
  py::array indptr = array_arg<int64_t>(indptr_obj, "indptr", 1);
  py::array indices = array_arg<int64_t>(indices_obj, "indices", 1);
  py::array pvals = array_arg<float>(pvals_obj, "pvals", 1);
  const int64_t n = indptr.shape(0) - 1;
  if (n < 2) {
    throw py::value_error(
        "TsneBarnesHut: indptr must have length n + 1 with n >= 2 points, got "
        "length " +
        std::to_string(indptr.shape(0)));
  }
  const int64_t nnz = indices.shape(0);
  if (pvals.shape(0) != nnz) {
    throw py::value_error("indices and pvals must have the same length, got " +
                          std::to_string(nnz) + " and " + std::to_string(pvals.shape(0)));
  }
  const auto* ip = static_cast<const int64_t*>(indptr.data());
  const auto* jp = static_cast<const int64_t*>(indices.data());
  const float* vp = static_cast<const float*>(pvals.data());
  py::gil_scoped_release release;
  return std::make_unique<lf::TsneBarnesHut>(ip, jp, vp, n, nnz);
}

py::tuple bh_gradient(lf::TsneBarnesHut& self, const py::object& y_obj, double theta,
                      double exaggeration, bool compute_kl) {
  py::array Y = tsne_embedding(y_obj);
  const int64_t n = Y.shape(0);
  if (n != self.n()) {
    throw py::value_error("Y has " + std::to_string(n) + " rows but P has " +
                          std::to_string(self.n()));
  }
  py::array_t<float> grad({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(2)});
  float* gp = grad.mutable_data();
  const float* yp = static_cast<const float*>(Y.data());
  const int nt = lf::num_threads();
  double kl = 0.0;
  {
    py::gil_scoped_release release;
    kl = self.gradient(gp, yp, theta, exaggeration, compute_kl, nt);
  }
  return py::make_tuple(std::move(grad), kl);
}

// Y, update, gains: float64 (n, 2) C-contiguous, writeable, pairwise disjoint.
py::tuple bh_step(lf::TsneBarnesHut& self, const py::object& y_obj, const py::object& u_obj,
                  const py::object& g_obj, double theta, double exaggeration, double momentum,
                  double learning_rate, double min_gain, bool compute_kl) {
  const auto st =
      lf::bind::tsne_step_state(y_obj, u_obj, g_obj, self.n(), momentum, learning_rate, min_gain);
  auto* yp = lf::bind::mptr<double>(st.Y);
  auto* up = lf::bind::mptr<double>(st.update);
  auto* gp = lf::bind::mptr<double>(st.gains);
  const int nt = lf::num_threads();
  lf::TsneBarnesHut::StepResult r{};
  {
    py::gil_scoped_release release;
    r = self.step(yp, up, gp, theta, exaggeration, momentum, learning_rate, min_gain, compute_kl,
                  nt);
  }
  return py::make_tuple(r.kl, r.finite);
}

// ---- the CUDA step on host arrays (RuntimeError without CUDA or without a device) ----

bool tsne_step_cuda(const py::object& y_obj, const py::object& u_obj, const py::object& g_obj,
                    const py::object& grad_obj, double momentum, double learning_rate,
                    double min_gain, int config) {
  const auto st =
      lf::bind::tsne_step_state(y_obj, u_obj, g_obj, -1, momentum, learning_rate, min_gain);
  const py::array grad = lf::bind::tsne_step_grad(grad_obj, st.n);
  auto* yp = lf::bind::mptr<double>(st.Y);
  auto* up = lf::bind::mptr<double>(st.update);
  auto* gp = lf::bind::mptr<double>(st.gains);
  const float* dp = lf::bind::cptr<float>(grad);
  py::gil_scoped_release release;
  return lf::tsne_step_cuda_from_host(yp, up, gp, dp, st.n, momentum, learning_rate, min_gain,
                                      config);
}

py::tuple tsne_step_bh_cuda(const py::object& y_obj, const py::object& u_obj,
                            const py::object& g_obj, const py::object& indptr_obj,
                            const py::object& indices_obj, const py::object& pvals_obj,
                            double theta, double exaggeration, double momentum,
                            double learning_rate, double min_gain, bool compute_kl, int config) {
  const auto st =
      lf::bind::tsne_step_state(y_obj, u_obj, g_obj, -1, momentum, learning_rate, min_gain);
  const auto c = lf::bind::tsne_step_csr(indptr_obj, indices_obj, pvals_obj, st.n, theta);
  auto* yp = lf::bind::mptr<double>(st.Y);
  auto* up = lf::bind::mptr<double>(st.update);
  auto* gp = lf::bind::mptr<double>(st.gains);
  lf::TsneBarnesHut::StepResult r{};
  {
    py::gil_scoped_release release;
    r = lf::tsne_step_bh_cuda_from_host(
        yp, up, gp, lf::bind::cptr<int64_t>(c.indptr), lf::bind::cptr<int64_t>(c.indices),
        lf::bind::cptr<float>(c.pvals), st.n, c.nnz, theta, exaggeration, momentum, learning_rate,
        min_gain, compute_kl, config);
  }
  return py::make_tuple(r.kl, r.finite);
}

}  // namespace

void bind_tsne_grouped(py::module_& m) {
  py::class_<lf::TsneBarnesHut>(
      m, "TsneBarnesHut",
      "Barnes-Hut t-SNE gradient with group traversal and SIMD evaluation (ops/tsne_grouped.h). "
      "Holds the sparse P, validated once: TsneBarnesHut(indptr int64 (n + 1,), indices int64, "
      "pvals float32).")
      .def(py::init(&make_bh), py::arg("indptr"), py::arg("indices"), py::arg("pvals"))
      .def_property_readonly("n", &lf::TsneBarnesHut::n)
      .def_property_readonly("nnz", &lf::TsneBarnesHut::nnz)
      .def_property_readonly("nbytes", &lf::TsneBarnesHut::nbytes,
                             "Bytes held (P and the working buffers of the last call).")
      .def_property_readonly("last_interactions", &lf::TsneBarnesHut::last_interactions,
                             "Interaction-list entries x points evaluated by the last call.")
      .def_property_readonly(
          "last_timings",
          [](const lf::TsneBarnesHut& self) {
            const auto t = self.last_timings();
            return py::make_tuple(t.tree, t.repulsion, t.attraction);
          },
          "Wall seconds of the last call's tree build, repulsion and attraction phases (with "
          "several threads the tree is usually built during the attraction, whose time then "
          "includes it).")
      .def("gradient", &bh_gradient, py::arg("Y"), py::arg("theta") = 0.5,
           py::arg("exaggeration") = 1.0, py::arg("compute_kl") = true,
           "(grad (n, 2) float32, kl) at Y (n, 2) float32 C-contiguous; kl uses the Barnes-Hut "
           "Z (NaN when compute_kl is False). Bitwise independent of the thread count.")
      .def("step", &bh_step, py::arg("Y"), py::arg("update"), py::arg("gains"), py::arg("theta"),
           py::arg("exaggeration"), py::arg("momentum"), py::arg("learning_rate"),
           py::arg("min_gain") = 0.01, py::arg("compute_kl") = false,
           "One gradient-descent iteration with momentum and gains, in place on Y, update, gains "
           "(float64 (n, 2) C-contiguous): g = gradient(float32(Y)); gains = where(update * g < 0, "
           "gains + 0.2, gains * 0.8) floored at min_gain; update = momentum * update - "
           "learning_rate * gains * g; Y += update. Returns (kl, finite): finite is False (and "
           "nothing is modified) when the gradient has a NaN or Inf.");

  m.def("_tsne_step_cuda", &tsne_step_cuda, py::arg("Y"), py::arg("update"), py::arg("gains"),
        py::arg("grad"), py::arg("momentum"), py::arg("learning_rate"), py::arg("min_gain") = 0.01,
        py::arg("config") = 0,
        "TsneBarnesHut.step's update on the GPU given the gradient grad (n, 2) float32, in place "
        "on Y, update, gains (float64 (n, 2)); returns finite (False: nothing modified).");
  m.def("_tsne_step_bh_cuda", &tsne_step_bh_cuda, py::arg("Y"), py::arg("update"), py::arg("gains"),
        py::arg("indptr"), py::arg("indices"), py::arg("pvals"), py::arg("theta"),
        py::arg("exaggeration"), py::arg("momentum"), py::arg("learning_rate"),
        py::arg("min_gain") = 0.01, py::arg("compute_kl") = false, py::arg("config") = 0,
        "One t-SNE iteration on the GPU: tsne_gradient_bh_cuda's (per-point Barnes-Hut) gradient "
        "at float32(Y), then the step's update, in place; returns (kl, finite).");
  m.def(
      "_tsne_step_cuda_num_configs", [] { return lf::kTsneStepCudaConfigs; },
      "Number of launch configurations of the CUDA t-SNE step kernels.");

  // Device pointers (addresses) and a stream; finite: one int32 (0 allowed for tsne_step), kl = 0
  // skips the KL.
  auto d = lf::bind::device_module(m);
  d.def(
      "tsne_step",
      [](int device, std::uintptr_t stream, std::uintptr_t Y, std::uintptr_t update,
         std::uintptr_t gains, std::uintptr_t finite, std::uintptr_t grad, int64_t n,
         double momentum, double learning_rate, double min_gain) {
        lf::bind::launch_on(device, stream, [&](void* s) {
          lf::tsne_step_cuda(lf::bind::dptr<double>(Y), lf::bind::dptr<double>(update),
                             lf::bind::dptr<double>(gains), lf::bind::dptr<int32_t>(finite),
                             lf::bind::dptr<const float>(grad), n, momentum, learning_rate,
                             min_gain, s);
        });
      },
      py::arg("device"), py::arg("stream"), py::arg("Y"), py::arg("update"), py::arg("gains"),
      py::arg("finite"), py::arg("grad"), py::arg("n"), py::arg("momentum"),
      py::arg("learning_rate"), py::arg("min_gain"),
      "tsne_step_cuda on device pointers (ops/tsne_grouped.h): Y, update, gains (n, 2) float64 in "
      "place, finite one int32 or 0, grad (n, 2) float32.");
  d.def(
      "tsne_step_bh",
      [](int device, std::uintptr_t stream, std::uintptr_t Y, std::uintptr_t update,
         std::uintptr_t gains, std::uintptr_t finite, std::uintptr_t kl, std::uintptr_t indptr,
         std::uintptr_t indices, std::uintptr_t pvals, int64_t n, int64_t nnz, double theta,
         double exaggeration, double momentum, double learning_rate, double min_gain) {
        lf::bind::launch_on(device, stream, [&](void* s) {
          lf::tsne_step_bh_cuda(lf::bind::dptr<double>(Y), lf::bind::dptr<double>(update),
                                lf::bind::dptr<double>(gains), lf::bind::dptr<int32_t>(finite),
                                lf::bind::dptr<double>(kl), lf::bind::dptr<const int64_t>(indptr),
                                lf::bind::dptr<const int64_t>(indices),
                                lf::bind::dptr<const float>(pvals), n, nnz, theta, exaggeration,
                                momentum, learning_rate, min_gain, s);
        });
      },
      py::arg("device"), py::arg("stream"), py::arg("Y"), py::arg("update"), py::arg("gains"),
      py::arg("finite"), py::arg("kl"), py::arg("indptr"), py::arg("indices"), py::arg("pvals"),
      py::arg("n"), py::arg("nnz"), py::arg("theta"), py::arg("exaggeration"), py::arg("momentum"),
      py::arg("learning_rate"), py::arg("min_gain"),
      "tsne_step_bh_cuda on device pointers (ops/tsne_grouped.h): float32(Y) is copied to the "
      "host to build the quadtree (the call synchronizes `stream`), the gradient (tsne_bh's) and "
      "the update run on the device.");
}
