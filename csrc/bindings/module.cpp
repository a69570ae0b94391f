// The private extension module latentforge._C. Each op binds itself in bind_<op>.cpp (the op
// list is python/latentforge/_optable.py); bind_core.cpp binds build information, threads, ISA
// selection, device queries and the Activation enum.
#include <pybind11/pybind11.h>

namespace py = pybind11;

void bind_core(py::module_& m);
void bind_gemm(py::module_& m);
void bind_elementwise(py::module_& m);
void bind_optim(py::module_& m);
void bind_philox(py::module_& m);
void bind_rbm_gibbs(py::module_& m);
void bind_topk(py::module_& m);
void bind_batch_norm(py::module_& m);
void bind_knn(py::module_& m);
void bind_tsne_affinity(py::module_& m);
void bind_tsne_symmetrize(py::module_& m);
void bind_tsne_bh(py::module_& m);
void bind_tsne_grouped(py::module_& m);
void bind_pool2d(py::module_& m);
void bind_local_contrast_norm2d(py::module_& m);
void bind_conv2d(py::module_& m);
void bind_locally_connected2d(py::module_& m);
void bind_word2vec(py::module_& m);
void bind_device(py::module_& m);

PYBIND11_MODULE(_C, m) {
  m.doc() = "latentforge native kernels (private; use the latentforge package API)";
  bind_core(m);  // first: the Activation enum is used in other signatures' defaults
  // Device-pointer entry points (bindings/device_args.h); ops add theirs in bind_<op>.cpp.
  m.def_submodule("device", "device-pointer entry points (private; see latentforge._device)");
  bind_device(m);
  bind_gemm(m);
  bind_elementwise(m);
  bind_optim(m);
  bind_philox(m);
  bind_rbm_gibbs(m);
  bind_topk(m);
  bind_batch_norm(m);
  bind_knn(m);
  bind_tsne_affinity(m);
  bind_tsne_symmetrize(m);
  bind_tsne_bh(m);
  bind_tsne_grouped(m);
  bind_pool2d(m);
  bind_local_contrast_norm2d(m);
  bind_conv2d(m);
  bind_locally_connected2d(m);
  bind_word2vec(m);
}
