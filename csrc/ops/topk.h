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

// ---- CUDA sibling (ops/topk_cuda.cu): the contracts above with DEVICE pointers, launched on
// `stream` (a cudaStream_t as void*; nullptr is the legacy default stream), asynchronous.
// One block per row (grid-stride over rows): an exact radix select of the k smallest 64-bit keys
// of topk_rows_cpu ((~ordered value bits) << 32 | column), 8 bits per pass from the top, each
// pass a histogram of the candidates that still match the selected prefix (integer shared-memory
// atomics: counts do not depend on the order), stopping as soon as the selected digit's bin holds
// exactly the number still wanted. Keys are unique, so the kept set and the outputs are bitwise
// those of the CPU kernel, for any cols and any thread count. Cost: between 1 and 8 reads of the
// row (typically 4-5 with distinct values), plus one write pass.
// NaN: a device kernel cannot throw. A row holding a NaN is written as y = 0, mask = 0 and sets
// *nan_flag (one int32 in device memory, set to 0 by this call on the stream first, then to 1 when
// any row holds a NaN; nan_flag may be null when the caller does not want it). The host-array
// entry below reads the flag and throws std::invalid_argument like the CPU kernel.
// Argument errors (sizes, k, null pointers) throw std::invalid_argument before anything is
// enqueued; launch errors throw std::runtime_error.
void topk_rows_cuda(float* y, uint8_t* mask, int32_t* nan_flag, const float* x, int64_t rows,
                    int64_t cols, int64_t k, void* stream);
// dx = mask ? dy : 0 on the device (grid-stride, one thread per element). dx may equal dy.
void topk_rows_backward_cuda(float* dx, const float* dy, const uint8_t* mask, int64_t rows,
                             int64_t cols, void* stream);

// Launch configurations (threads per block, grid cap) of the kernels: the launchers use 0; the
// tests run all (config 1 is small so that blocks take several rows and threads many columns).
inline constexpr int kTopkCudaConfigs = 2;
// topk_rows_cuda on HOST arrays (copies in and out, synchronous, current device), under launch
// configuration `config`; throws std::invalid_argument ("x contains NaN") when the flag is set.
void topk_rows_cuda_from_host(float* y, uint8_t* mask, const float* x, int64_t rows, int64_t cols,
                              int64_t k, int config);
// topk_rows_backward_cuda on HOST arrays (copies in and out, synchronous).
void topk_rows_backward_cuda_from_host(float* dx, const float* dy, const uint8_t* mask,
                                       int64_t rows, int64_t cols, int config);

}  // namespace lf
