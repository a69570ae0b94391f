// Bindings of the reference t-SNE gradients (ops/tsne_bh.h): exact O(n^2) and per-point
// Barnes-Hut, their CUDA siblings on host arrays (_C._tsne_gradient_*_cuda) and on device pointers
// (_C.device.tsne_gradient_*). Inputs are validated before any pointer is used (TypeError: not an
// array / wrong dtype; ValueError: layout, shape, parameters); outputs are fresh arrays and the GIL
// is released around the kernels.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "bindings/array_check.h"
#include "bindings/device_args.h"
#include "bindings/tsne_bh_args.h"
#include "core/parallel.h"
#include "ops/tsne_bh.h"

namespace py = pybind11;

namespace {

using lf::bind::cptr;
using lf::bind::dptr;
using lf::bind::launch_on;
using u = std::uintptr_t;

py::tuple tsne_gradient_exact(const py::object& y_obj, const py::object& p_obj, double exaggeration,
                              bool compute_kl) {
  const auto a = lf::bind::tsne_exact_args(y_obj, p_obj, "tsne_gradient_exact");
  const int64_t n = a.n;
  py::array_t<float> grad({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(2)});
  float* gp = grad.mutable_data();
  const float* yp = cptr<float>(a.Y);
  const float* pp = cptr<float>(a.P);
  const int nt = lf::num_threads();
  double kl = 0.0;
  {
    py::gil_scoped_release release;
    lf::tsne_gradient_exact_cpu(gp, &kl, yp, pp, n, exaggeration, compute_kl, nt);
  }
  return py::make_tuple(std::move(grad), kl);
}

py::tuple tsne_gradient_bh(const py::object& y_obj, const py::object& indptr_obj,
                           const py::object& indices_obj, const py::object& pvals_obj, double theta,
                           double exaggeration, bool compute_kl) {
  const auto a =
      lf::bind::tsne_csr_args(y_obj, indptr_obj, indices_obj, pvals_obj, theta, "tsne_gradient_bh");
  const int64_t n = a.n, nnz = a.nnz;
  py::array_t<float> grad({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(2)});
  float* gp = grad.mutable_data();
  const float* yp = cptr<float>(a.Y);
  const auto* ip = cptr<int64_t>(a.indptr);
  const auto* jp = cptr<int64_t>(a.indices);
  const float* vp = cptr<float>(a.pvals);
  const int nt = lf::num_threads();
  double kl = 0.0;
  {
    py::gil_scoped_release release;
    lf::tsne_gradient_bh_cpu(gp, &kl, yp, ip, jp, vp, n, nnz, theta, exaggeration, compute_kl, nt);
  }
  return py::make_tuple(std::move(grad), kl);
}

// ---- the CUDA kernels on host arrays (RuntimeError without CUDA or without a device)

py::tuple tsne_gradient_exact_cuda(const py::object& y_obj, const py::object& p_obj,
                                   double exaggeration, bool compute_kl, int config) {
  const auto a = lf::bind::tsne_exact_args(y_obj, p_obj, "tsne_gradient_exact_cuda");
  py::array_t<float> grad({static_cast<py::ssize_t>(a.n), static_cast<py::ssize_t>(2)});
  float* gp = grad.mutable_data();
  const float* yp = cptr<float>(a.Y);
  const float* pp = cptr<float>(a.P);
  double kl = 0.0;
  {
    py::gil_scoped_release release;
    kl = lf::tsne_gradient_exact_cuda_from_host(gp, yp, pp, a.n, exaggeration, compute_kl, config);
  }
  return py::make_tuple(std::move(grad), kl);
}

py::tuple tsne_gradient_bh_cuda(const py::object& y_obj, const py::object& indptr_obj,
                                const py::object& indices_obj, const py::object& pvals_obj,
                                double theta, double exaggeration, bool compute_kl, int config) {
  const auto a = lf::bind::tsne_csr_args(y_obj, indptr_obj, indices_obj, pvals_obj, theta,
                                         "tsne_gradient_bh_cuda");
  py::array_t<float> grad({static_cast<py::ssize_t>(a.n), static_cast<py::ssize_t>(2)});
  float* gp = grad.mutable_data();
  const float* yp = cptr<float>(a.Y);
  const auto* ip = cptr<int64_t>(a.indptr);
  const auto* jp = cptr<int64_t>(a.indices);
  const float* vp = cptr<float>(a.pvals);
  double kl = 0.0;
  {
    py::gil_scoped_release release;
    kl = lf::tsne_gradient_bh_cuda_from_host(gp, yp, ip, jp, vp, a.n, a.nnz, theta, exaggeration,
                                             compute_kl, config);
  }
  return py::make_tuple(std::move(grad), kl);
}

}  // namespace

void bind_tsne_bh(py::module_& m) {
  m.def("tsne_gradient_exact", &tsne_gradient_exact, py::arg("Y"), py::arg("P"),
        py::arg("exaggeration") = 1.0, py::arg("compute_kl") = true,
        "Exact O(n^2) t-SNE gradient of KL(P || Q) for a 2-D embedding. Y: (n, 2) float32 "
        "C-contiguous; P: (n, n) float32 C-contiguous joint probabilities (symmetric, summing to "
        "1; the diagonal is ignored). Returns (grad, kl): grad (n, 2) float32 = 4 sum_j "
        "(exaggeration p_ij - q_ij) w_ij (y_i - y_j) with w_ij = 1 / (1 + |y_i - y_j|^2), q = w / "
        "sum w; kl = sum p log(p / q) (un-exaggerated P), a float (NaN when compute_kl is False, "
        "which skips two logarithms per entry of P). Double accumulation; bitwise "
        "independent of the thread count.");
  m.def("tsne_gradient_bh", &tsne_gradient_bh, py::arg("Y"), py::arg("indptr"), py::arg("indices"),
        py::arg("pvals"), py::arg("theta") = 0.5, py::arg("exaggeration") = 1.0,
        py::arg("compute_kl") = true,
        "Barnes-Hut t-SNE gradient for a 2-D embedding. Y: (n, 2) float32 C-contiguous; P as CSR "
        "(indptr int64 (n + 1,), indices int64, pvals float32), symmetric, summing to 1. The "
        "attractive term is exact over P; the repulsive term and the normalisation Z use a "
        "quadtree, summarising a cell when side / distance < theta (theta = 0: exact). Returns "
        "(grad (n, 2) float32, kl float), kl computed with the Barnes-Hut Z. Bitwise independent "
        "of the thread count.");
  m.def("_tsne_gradient_exact_cuda", &tsne_gradient_exact_cuda, py::arg("Y"), py::arg("P"),
        py::arg("exaggeration") = 1.0, py::arg("compute_kl") = true, py::arg("config") = 0,
        "tsne_gradient_exact on the GPU (host arrays in and out; ops/tsne_bh_cuda.cuh).");
  m.def("_tsne_gradient_bh_cuda", &tsne_gradient_bh_cuda, py::arg("Y"), py::arg("indptr"),
        py::arg("indices"), py::arg("pvals"), py::arg("theta") = 0.5, py::arg("exaggeration") = 1.0,
        py::arg("compute_kl") = true, py::arg("config") = 0,
        "tsne_gradient_bh on the GPU: the quadtree built on the host, the traversal on the device "
        "(host arrays in and out).");
  m.def(
      "_tsne_cuda_num_configs", [] { return lf::kTsneCudaConfigs; },
      "Number of launch configurations of the CUDA t-SNE gradient kernels.");

  // Device pointers (addresses) and a stream; kl = 0 skips the KL.
  auto d = lf::bind::device_module(m);
  d.def(
      "tsne_gradient_exact",
      [](int device, u stream, u grad, u kl, u Y, u P, int64_t n, double exaggeration) {
        launch_on(device, stream, [&](void* s) {
          lf::tsne_gradient_exact_cuda(dptr<float>(grad), dptr<double>(kl), dptr<const float>(Y),
                                       dptr<const float>(P), n, exaggeration, s);
        });
      },
      py::arg("device"), py::arg("stream"), py::arg("grad"), py::arg("kl"), py::arg("Y"),
      py::arg("P"), py::arg("n"), py::arg("exaggeration"),
      "tsne_gradient_exact_cuda on device pointers (ops/tsne_bh.h): grad (n, 2) float32, kl one "
      "float64 or 0 (not computed), Y (n, 2) float32, P (n, n) float32.");
  d.def(
      "tsne_gradient_bh",
      [](int device, u stream, u grad, u kl, u Y, u indptr, u indices, u pvals, int64_t n,
         int64_t nnz, double theta, double exaggeration) {
        launch_on(device, stream, [&](void* s) {
          lf::tsne_gradient_bh_cuda(dptr<float>(grad), dptr<double>(kl), dptr<const float>(Y),
                                    /*Y_host=*/nullptr, dptr<const int64_t>(indptr),
                                    dptr<const int64_t>(indices), dptr<const float>(pvals), n, nnz,
                                    theta, exaggeration, s);
        });
      },
      py::arg("device"), py::arg("stream"), py::arg("grad"), py::arg("kl"), py::arg("Y"),
      py::arg("indptr"), py::arg("indices"), py::arg("pvals"), py::arg("n"), py::arg("nnz"),
      py::arg("theta"), py::arg("exaggeration"),
      "tsne_gradient_bh_cuda on device pointers (ops/tsne_bh.h): Y is copied to the host to "
      "build the quadtree (the call synchronizes `stream`), the traversal runs on the device.");
}
