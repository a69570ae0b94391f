#include "core/parallel.h"

#include <atomic>

#include "core/check.h"

#ifdef LF_WITH_OPENMP
#include <omp.h>
#endif

namespace lf {
namespace {
std::atomic<int> g_num_threads{0};  // 0: follow OpenMP's default
}

int num_threads() {
  const int n = g_num_threads.load();
  if (n > 0) return n;
#ifdef LF_WITH_OPENMP
  const int m = omp_get_max_threads();
  return m > 0 ? m : 1;
#else
  return 1;
#endif
}

void set_num_threads(int n) {
  LF_CHECK(n >= 0, "num_threads must be >= 1 (or 0 for the OpenMP default), got ", n);
  g_num_threads.store(n);
#ifdef LF_WITH_OPENMP
  if (n > 0) omp_set_num_threads(n);
#endif
}

bool openmp_enabled() {
#ifdef LF_WITH_OPENMP
  return true;
#else
  return false;
#endif
}

}  // namespace lf
