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

// set_num_threads(n) also sets OpenMP's own count (omp_set_num_threads), and the value used is
// never more than omp_get_max_threads() on the calling thread: so threadpoolctl, which limits
// OpenMP through that same call, limits latentforge too, and its context restores our count on
// exit. g_num_threads keeps the setting for Python threads whose OpenMP ICV was not set.
int num_threads() {
  const int n = g_num_threads.load();
#ifdef LF_WITH_OPENMP
  const int m = omp_get_max_threads();
  if (n > 0) return m > 0 && m < n ? m : n;
  return m > 0 ? m : 1;
#else
  return n > 0 ? n : 1;
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
