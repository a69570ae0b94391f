// A 64-byte aligned float buffer that grows and is reused, so hot calls do not fault in fresh
// pages: kernels keep one per calling thread and role (thread_local). get(n) returns room for
// at least n floats (at least 1); the old contents are not kept when it grows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "core/check.h"

namespace lf {

class ScratchBuffer {
 public:
  ScratchBuffer() = default;
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  ~ScratchBuffer() { std::free(ptr_); }

  float* get(int64_t n_floats) {
    const size_t want = n_floats > 1 ? static_cast<size_t>(n_floats) : 1;
    if (want > cap_) {
      std::free(ptr_);
      ptr_ = nullptr;
      cap_ = 0;
      const size_t bytes = ((want * sizeof(float) + 63) / 64) * 64;
      ptr_ = static_cast<float*>(std::aligned_alloc(64, bytes));
      LF_CHECK_RT(ptr_ != nullptr, "cannot allocate ", bytes, " bytes of scratch memory");
      cap_ = want;
    }
    return ptr_;
  }

 private:
  float* ptr_ = nullptr;
  size_t cap_ = 0;
};

}  // namespace lf
