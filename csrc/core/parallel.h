// One threading runtime: our OpenMP. Kernels take an explicit num_threads argument; the
// bindings pass lf::num_threads().
#pragma once

#include <algorithm>
#include <cstdint>
#include <exception>
#include <vector>

namespace lf {

// Elementwise kernels split [0, n) into fixed blocks of kParallelBlock elements (a multiple of
// every vector width), so each element always takes the same code path, whatever the thread
// count: results are bitwise thread-independent. Below kSerialBelow elements the OpenMP
// fork/join costs more than the work, and the blocks run serially.
constexpr int64_t kParallelBlock = 4096;
constexpr int64_t kSerialBelow = 1 << 15;

// Calls f(begin, end) for every block of [0, n), over num_threads OpenMP threads.
template <class F>
void parallel_for_blocks(int64_t n, int num_threads, const F& f) {
  const int64_t nb = (n + kParallelBlock - 1) / kParallelBlock;
  if (num_threads <= 1 || n < kSerialBelow) {
    for (int64_t b = 0; b < nb; ++b) f(b * kParallelBlock, std::min(n, (b + 1) * kParallelBlock));
    return;
  }
#ifdef LF_WITH_OPENMP
#pragma omp parallel for num_threads(num_threads) schedule(static)
#endif
  for (int64_t b = 0; b < nb; ++b) f(b * kParallelBlock, std::min(n, (b + 1) * kParallelBlock));
}

// No exception may leave an OpenMP region: inside one, run each piece of work through
// FirstError::run, which keeps the first exception thrown (allocation failures, argument checks of
// the functions called) instead of letting it escape; after the region, rethrow() raises it.
struct FirstError {
  std::exception_ptr ptr;
  template <class F>
  void run(const F& f) {
    try {
      f();
    } catch (...) {
#ifdef LF_WITH_OPENMP
#pragma omp critical(lf_first_error)
#endif
      if (!ptr) ptr = std::current_exception();
    }
  }
  void rethrow() const {
    if (ptr) std::rethrow_exception(ptr);
  }
};

// Threads the kernels use: the value given to set_num_threads() (which also sets OpenMP's), capped
// by OpenMP's omp_get_max_threads() on the calling thread, or that alone by default -- so
// OMP_NUM_THREADS and threadpoolctl's limits apply in both cases. Always >= 1; 1 in a build
// without OpenMP.
int num_threads();
// n >= 1 fixes the count; n == 0 returns to the OpenMP default. Throws on n < 0.
void set_num_threads(int n);
bool openmp_enabled();

// Calls f(row) for every row of a rows x cols problem, one row per iteration (rows are
// independent, so any split gives the same bits); serial for small problems.
template <class F>
void parallel_for_rows(int64_t rows, int64_t cols, int num_threads, const F& f) {
  if (num_threads <= 1 || rows * cols < kSerialBelow || rows < 2) {
    for (int64_t r = 0; r < rows; ++r) f(r);
    return;
  }
#ifdef LF_WITH_OPENMP
#pragma omp parallel for num_threads(num_threads) schedule(static)
#endif
  for (int64_t r = 0; r < rows; ++r) f(r);
}

// The first row of a row-major rows x cols float matrix holding an element v with !ok(v), or -1
// when there is none. Rows are scanned in parallel with one flag per row, so no exception has to
// leave an OpenMP region (the caller throws, naming the row) and the answer -- the smallest bad
// row -- does not depend on the thread count. The validation step of every kernel that rejects
// non-finite input.
template <class Ok>
int64_t first_bad_row(const float* M, int64_t rows, int64_t cols, int num_threads, const Ok& ok) {
  std::vector<uint8_t> bad(static_cast<size_t>(rows > 0 ? rows : 0), 0);
  parallel_for_rows(rows, cols, num_threads, [&](int64_t r) {
    const float* m = M + r * cols;
    bool good = true;
    for (int64_t j = 0; j < cols; ++j) good &= static_cast<bool>(ok(m[j]));
    bad[static_cast<size_t>(r)] = !good;
  });
  for (int64_t r = 0; r < rows; ++r) {
    if (bad[static_cast<size_t>(r)]) return r;
  }
  return -1;
}

}  // namespace lf
