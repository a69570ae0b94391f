// Shared pieces of the device-pointer bindings: the private submodule latentforge._C.device, whose
// functions take device memory as integer addresses (what __cuda_array_interface__ and DLPack
// hand out) and a stream handle, and enqueue one kernel. They do not check what the memory holds
// (it is on the device) nor its extent: latentforge/_device.py validates every array (dtype,
// shape, contiguity, owning device) before calling them, and owns the allocation of outputs.
//
// Arguments come in the order (device, stream, outputs..., inputs..., sizes..., scalars...).
// Stream handles follow __cuda_array_interface__ v3: 1 the legacy default stream, 2 the
// per-thread default stream, anything else a cudaStream_t (0: the default stream).
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>
#include <utility>

#include "core/cuda_runtime.h"

namespace lf::bind {

// The submodule created by module.cpp before the ops bind themselves.
inline pybind11::module_ device_module(pybind11::module_& m) {
  return m.attr("device").cast<pybind11::module_>();
}

template <class T>
inline T* dptr(std::uintptr_t address) {
  return reinterpret_cast<T*>(address);
}

// Runs launch(stream) with `device` current (restored after) and the GIL released. In a CPU-only
// build the device guard throws "latentforge was built without CUDA" before anything runs.
template <class F>
void launch_on(int device, std::uintptr_t stream, F&& launch) {
  lf::CudaDeviceGuard guard(device);
  void* s = lf::cuda_stream_handle(stream);
  pybind11::gil_scoped_release release;
  std::forward<F>(launch)(s);
}

}  // namespace lf::bind
