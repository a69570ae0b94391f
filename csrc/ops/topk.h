// Row-wise top-k selection (k-sparse activations, Makhzani & Frey 2013) on float32 (CPU).
//
// For every row of a row-major rows x cols matrix x, keep the k largest values and zero the
// rest. Ties are broken by the lower column index, so the kept set is unique: a strict total
// order ((x[i] > x[j]) or (x[i] == x[j] and i < j)) decides it. Each row is handled by one
// thread with std::nth_element (O(cols) expected), so results are bitwise independent of the
// thread count. A NaN anywhere in x is rejected (std::invalid_argument -> ValueError) before
// anything is written.
//
// Backward: dx = mask ? dy : 0 (the gradient flows only through the kept units).
#pragma once

#include <cstdint>

namespace lf {

// y: rows x cols output (kept values, zeros elsewhere); mask: rows x cols, 1 where kept, else 0.
// 1 <= k <= cols (when rows > 0 and cols > 0). y must not overlap x.
void topk_rows_cpu(float* y, uint8_t* mask, const float* x, int64_t rows, int64_t cols, int64_t k,
                   int num_threads);

// Reference (serial): each row's indices fully sorted by (value descending, index ascending),
// the first k kept. Same outputs and validation as topk_rows_cpu.
void topk_rows_naive(float* y, uint8_t* mask, const float* x, int64_t rows, int64_t cols,
                     int64_t k);

// dx = mask ? dy : 0, elementwise over rows x cols. dx may equal dy.
void topk_rows_backward_cpu(float* dx, const float* dy, const uint8_t* mask, int64_t rows,
                            int64_t cols, int num_threads);

}  // namespace lf
