// CPU uniform draws (see ops/philox.h).
#include "ops/philox.h"

#include "core/check.h"
#include "core/parallel.h"
#include "core/rng.h"

namespace lf {

void uniform_cpu(float* u, int64_t n, uint64_t seed, uint64_t stream, uint64_t offset,
                 int num_threads) {
  LF_CHECK(n >= 0, "uniform: n must be >= 0, got ", n);
  if (n == 0) return;
  parallel_for_blocks(n, num_threads, [&](int64_t lo, int64_t hi) {
    uniform01_fill(u + lo, hi - lo, seed, stream, offset + static_cast<uint64_t>(lo));
  });
}

void uniform_naive(float* u, int64_t n, uint64_t seed, uint64_t stream, uint64_t offset) {
  LF_CHECK(n >= 0, "uniform: n must be >= 0, got ", n);
  for (int64_t i = 0; i < n; ++i) u[i] = uniform01(seed, stream, offset + static_cast<uint64_t>(i));
}

}  // namespace lf
