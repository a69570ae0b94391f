// Binding of the CPU GEMM (and its naive oracle). The Python layer (latentforge.ops) coerces
// user input; this layer re-validates everything, allocates the output, releases the GIL and
// runs the kernel.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <limits>
#include <string>

#include "bindings/array_check.h"
#include "core/parallel.h"
#include "ops/gemm.h"

namespace py = pybind11;

namespace {

lf::Activation activation_from_int(int act) {
  if (act < 0 || act > 3) throw py::value_error("activation code must be 0..3");
  return static_cast<lf::Activation>(act);
}

py::array gemm_binding(const py::array& A, const py::array& B, py::object C_obj, bool trans_a,
                       bool trans_b, float alpha, float beta, py::object bias_obj, int act,
                       bool naive) {
  const auto a = lf::bind::matrix_view(A, "A");
  const auto b = lf::bind::matrix_view(B, "B");
  const int64_t M = trans_a ? a.cols : a.rows;
  const int64_t K = trans_a ? a.rows : a.cols;
  const int64_t Kb = trans_b ? b.cols : b.rows;
  const int64_t N = trans_b ? b.rows : b.cols;
  if (K != Kb) {
    throw py::value_error("inner dimensions do not match: op(A) is " + std::to_string(M) + "x" +
                          std::to_string(K) + " but op(B) is " + std::to_string(Kb) + "x" +
                          std::to_string(N));
  }
  if (M > 0 && N > std::numeric_limits<int64_t>::max() / static_cast<int64_t>(sizeof(float)) / M) {
    throw py::value_error("output C of shape (" + std::to_string(M) + ", " + std::to_string(N) +
                          ") overflows a 64-bit size");
  }
  const lf::Activation activation = activation_from_int(act);
  py::array C;
  if (C_obj.is_none()) {
    if (beta != 0.0f) throw py::value_error("beta != 0 needs an input C");
    C = py::array_t<float>({M, N});
  } else {
    C = py::reinterpret_borrow<py::array>(C_obj);
  }
  const auto c = lf::bind::matrix_view(C, "C", /*writable=*/true);
  if (c.rows != M || c.cols != N) {
    throw py::value_error("C must have shape (" + std::to_string(M) + ", " + std::to_string(N) +
                          "), got (" + std::to_string(c.rows) + ", " + std::to_string(c.cols) +
                          ")");
  }
  const float* bias = nullptr;
  if (!bias_obj.is_none()) {
    bias = lf::bind::vector_view(py::reinterpret_borrow<py::array>(bias_obj), "bias", N);
  }
  const int nt = lf::num_threads();
  {
    py::gil_scoped_release release;
    if (naive) {
      lf::gemm_forward_naive(c.data, c.ld, a.data, a.ld, trans_a, b.data, b.ld, trans_b, M, N, K,
                             alpha, beta, bias, activation);
    } else {
      lf::gemm_forward_cpu(c.data, c.ld, a.data, a.ld, trans_a, b.data, b.ld, trans_b, M, N, K,
                           alpha, beta, bias, activation, nt);
    }
  }
  return C;
}

}  // namespace

void bind_gemm(py::module_& m) {
  m.def("gemm", &gemm_binding, py::arg("A"), py::arg("B"), py::arg("C") = py::none(),
        py::arg("trans_a") = false, py::arg("trans_b") = false, py::arg("alpha") = 1.0f,
        py::arg("beta") = 0.0f, py::arg("bias") = py::none(), py::arg("activation") = 0,
        py::arg("naive") = false,
        "C = act(alpha * op(A) @ op(B) + beta * C + bias) on float32 row-major matrices. "
        "naive=True runs the reference triple loop (double accumulation).");
}
