// CPU row-wise top-k (see ops/topk.h).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <vector>

#include "core/check.h"
#include "core/parallel.h"
#include "ops/topk.h"

namespace lf {

void topk_rows_cpu(float* y, uint8_t* mask, const float* x, int64_t rows, int64_t cols, int64_t k,
                   int num_threads) {
  LF_CHECK(rows >= 0 && cols >= 0, "topk_rows: negative shape (", rows, ", ", cols, ")");
  if (rows == 0 || cols == 0) return;
  LF_CHECK(k >= 1 && k <= cols, "topk_rows: k must be in [1, ", cols, "], got ", k);
  LF_CHECK(cols <= INT32_MAX, "topk_rows: cols must fit in int32, got ", cols);

  const int64_t bad = first_bad_row(x, rows, cols, num_threads, [](float v) { return v == v; });
  LF_CHECK(bad < 0, "topk_rows: x contains NaN (row ", bad, ")");

  const size_t n = static_cast<size_t>(rows) * static_cast<size_t>(cols);
  if (k == cols) {
    std::memcpy(y, x, n * sizeof(float));
    std::memset(mask, 1, n);
    return;
  }
  parallel_for_rows(rows, cols, num_threads, [&](int64_t r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    uint8_t* mr = mask + r * cols;
    // One 64-bit key per element, ascending key = descending value, then ascending index:
    // high half = bitwise NOT of the float's order-preserving unsigned image (+0 and -0 map
    // alike, so they tie as in a float compare), low half = the column index. Keys are
    // distinct, so the k smallest form a unique set whatever the selection algorithm.
    auto key = [xr](int64_t j) {
      const float v = xr[j] + 0.0f;  // -0 + +0 == +0 (round to nearest): +0 and -0 tie
      uint32_t b;
      std::memcpy(&b, &v, sizeof b);
      // Branch-free: negative -> ~b, non-negative -> b | sign bit (random signs mispredict).
      const uint32_t ord = b ^ (static_cast<uint32_t>(static_cast<int32_t>(b) >> 31) | 0x80000000u);
      return (static_cast<uint64_t>(~ord) << 32) | static_cast<uint64_t>(j);
    };
    thread_local std::vector<uint64_t> keys;
    if (k * 16 <= cols) {
      // Small k: a max-heap of the k best keys so far; most elements fail one compare.
      keys.resize(static_cast<size_t>(k));
      for (int64_t j = 0; j < k; ++j) keys[static_cast<size_t>(j)] = key(j);
      std::make_heap(keys.begin(), keys.end());
      for (int64_t j = k; j < cols; ++j) {
        const uint64_t kj = key(j);
        if (kj < keys.front()) {
          std::pop_heap(keys.begin(), keys.end());
          keys.back() = kj;
          std::push_heap(keys.begin(), keys.end());
        }
      }
    } else {
      keys.resize(static_cast<size_t>(cols));
      for (int64_t j = 0; j < cols; ++j) keys[static_cast<size_t>(j)] = key(j);
      std::nth_element(keys.begin(), keys.begin() + (k - 1), keys.end());
    }
    std::memset(yr, 0, static_cast<size_t>(cols) * sizeof(float));
    std::memset(mr, 0, static_cast<size_t>(cols));
    for (int64_t t = 0; t < k; ++t) {
      const int64_t j = static_cast<int64_t>(keys[static_cast<size_t>(t)] & 0xffffffffu);
      yr[j] = xr[j];
      mr[j] = 1;
    }
  });
}

void topk_rows_naive(float* y, uint8_t* mask, const float* x, int64_t rows, int64_t cols,
                     int64_t k) {
  LF_CHECK(rows >= 0 && cols >= 0, "topk_rows: negative shape (", rows, ", ", cols, ")");
  if (rows == 0 || cols == 0) return;
  LF_CHECK(k >= 1 && k <= cols, "topk_rows: k must be in [1, ", cols, "], got ", k);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < cols; ++j) {
      LF_CHECK(!std::isnan(x[r * cols + j]), "topk_rows: x contains NaN (row ", r, ")");
    }
  }
  std::vector<int64_t> order(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    std::iota(order.begin(), order.end(), int64_t{0});
    // A float compare: +0 and -0 tie, so the lower index wins between them.
    std::stable_sort(order.begin(), order.end(),
                     [xr](int64_t a, int64_t b) { return xr[a] > xr[b]; });
    for (int64_t j = 0; j < cols; ++j) {
      y[r * cols + j] = 0.0f;
      mask[r * cols + j] = 0;
    }
    for (int64_t t = 0; t < k; ++t) {
      const int64_t j = order[static_cast<size_t>(t)];
      y[r * cols + j] = xr[j];
      mask[r * cols + j] = 1;
    }
  }
}

void topk_rows_backward_cpu(float* dx, const float* dy, const uint8_t* mask, int64_t rows,
                            int64_t cols, int num_threads) {
  LF_CHECK(rows >= 0 && cols >= 0, "topk_rows_backward: negative shape (", rows, ", ", cols, ")");
  const int64_t n = rows * cols;
  if (n == 0) return;
  parallel_for_blocks(n, num_threads, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) dx[i] = mask[i] ? dy[i] : 0.0f;
  });
}

}  // namespace lf
