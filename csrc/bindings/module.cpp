// The private extension module latentforge._C. Each area binds itself in bind_<area>.cpp.
#include <pybind11/pybind11.h>

namespace py = pybind11;

void bind_core(py::module_& m);
void bind_gemm(py::module_& m);
void bind_optim(py::module_& m);
void bind_cuda(py::module_& m);
void bind_elementwise(py::module_& m);
void bind_rbm(py::module_& m);
void bind_topk(py::module_& m);
void bind_tsne(py::module_& m);
void bind_knn(py::module_& m);

PYBIND11_MODULE(_C, m) {
  m.doc() = "latentforge native kernels (private; use the latentforge package API)";
  bind_core(m);
  bind_gemm(m);
  bind_optim(m);
  bind_cuda(m);
  bind_elementwise(m);
  bind_rbm(m);
  bind_topk(m);
  bind_tsne(m);
  bind_knn(m);
}
