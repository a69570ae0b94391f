// The activations fused into the GEMM epilogue and applied by the elementwise kernels. The same
// enum is bound to Python as lf.Activation (bindings/bind_core.cpp), so Python code names them
// (lf.Activation.sigmoid) instead of passing bare integers.
#pragma once

namespace lf {

enum class Activation : int { none = 0, sigmoid = 1, tanh = 2, relu = 3 };

constexpr bool activation_valid(int code) { return code >= 0 && code <= 3; }

constexpr const char* activation_name(Activation a) {
  switch (a) {
    case Activation::sigmoid: return "sigmoid";
    case Activation::tanh: return "tanh";
    case Activation::relu: return "relu";
    default: return "none";
  }
}

}  // namespace lf
