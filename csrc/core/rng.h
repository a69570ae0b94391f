// Counter-based random numbers: Philox4x32-10 (Salmon, Moraes, Dror & Shaw, "Parallel Random
// Numbers: As Easy as 1, 2, 3", SC11; the Random123 library). Header-only, no state, no globals:
// every draw is a pure function of (seed, stream, index), so results do not depend on the thread
// count, the block split or the device (DESIGN.md, "Randomness is counter-based").
//
// Usable from host and device code: under nvcc the functions are __host__ __device__; elsewhere
// (including the CUDA emulation build) LF_HOST_DEVICE expands to nothing.
//
// Mapping of a draw to Philox (the contract every kernel, CPU or GPU, must follow):
//   key     = (seed & 0xffffffff, seed >> 32)
//   counter = (block & 0xffffffff, block >> 32, stream & 0xffffffff, stream >> 32)
//   block   = index / 4, lane = index % 4, word = philox4x32_10(counter, key)[lane]
//   uniform01(seed, stream, index) = (word >> 8) * 2^-24, exactly representable, in [0, 1).
#pragma once

#include <array>
#include <cstdint>

#if defined(__CUDACC__)
#define LF_HOST_DEVICE __host__ __device__
#else
#define LF_HOST_DEVICE
#endif

namespace lf {

namespace philox_detail {
constexpr uint32_t kM0 = 0xD2511F53u;  // multipliers
constexpr uint32_t kM1 = 0xCD9E8D57u;
constexpr uint32_t kW0 = 0x9E3779B9u;  // Weyl key increments (golden ratio, sqrt(3) - 1)
constexpr uint32_t kW1 = 0xBB67AE85u;

LF_HOST_DEVICE inline void philox_round(uint32_t c[4], uint32_t k0, uint32_t k1) {
  const uint64_t p0 = static_cast<uint64_t>(kM0) * c[0];
  const uint64_t p1 = static_cast<uint64_t>(kM1) * c[2];
  const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
  const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
  const uint32_t c1 = c[1], c3 = c[3];
  c[0] = hi1 ^ c1 ^ k0;
  c[1] = lo1;
  c[2] = hi0 ^ c3 ^ k1;
  c[3] = lo0;
}
}  // namespace philox_detail

// out[0:4] = Philox4x32-10(ctr, key). out may alias ctr.
LF_HOST_DEVICE inline void philox4x32_10(uint32_t out[4], const uint32_t ctr[4],
                                         const uint32_t key[2]) {
  uint32_t c[4] = {ctr[0], ctr[1], ctr[2], ctr[3]};
  uint32_t k0 = key[0], k1 = key[1];
  philox_detail::philox_round(c, k0, k1);
  for (int r = 1; r < 10; ++r) {
    k0 += philox_detail::kW0;
    k1 += philox_detail::kW1;
    philox_detail::philox_round(c, k0, k1);
  }
  out[0] = c[0];
  out[1] = c[1];
  out[2] = c[2];
  out[3] = c[3];
}

// Host convenience form.
inline std::array<uint32_t, 4> philox4x32_10(const std::array<uint32_t, 4>& ctr,
                                             const std::array<uint32_t, 2>& key) {
  std::array<uint32_t, 4> out{};
  philox4x32_10(out.data(), ctr.data(), key.data());
  return out;
}

// The four 32-bit words of Philox block `block` for (seed, stream).
LF_HOST_DEVICE inline void philox_block(uint32_t out[4], uint64_t seed, uint64_t stream,
                                        uint64_t block) {
  const uint32_t ctr[4] = {static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32),
                           static_cast<uint32_t>(stream), static_cast<uint32_t>(stream >> 32)};
  const uint32_t key[2] = {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
  philox4x32_10(out, ctr, key);
}

// A 32-bit word to a float in [0, 1) with 24 random bits.
LF_HOST_DEVICE inline float u32_to_uniform01(uint32_t x) {
  return static_cast<float>(x >> 8) * (1.0f / 16777216.0f);
}

// Draw number `index` of stream `stream` under `seed`, uniform in [0, 1).
LF_HOST_DEVICE inline float uniform01(uint64_t seed, uint64_t stream, uint64_t index) {
  uint32_t w[4];
  philox_block(w, seed, stream, index >> 2);
  return u32_to_uniform01(w[index & 3u]);
}

// u[i] = uniform01(seed, stream, first + i) for i in [0, n): one Philox call per 4 draws (the
// index wraps modulo 2^64, like uniform01's argument).
LF_HOST_DEVICE inline void uniform01_fill(float* u, int64_t n, uint64_t seed, uint64_t stream,
                                          uint64_t first) {
  int64_t i = 0;
  uint32_t w[4];
  // Leading partial block.
  if (n > 0 && (first & 3u) != 0) {
    philox_block(w, seed, stream, first >> 2);
    for (unsigned lane = static_cast<unsigned>(first & 3u); lane < 4 && i < n; ++lane, ++i)
      u[i] = u32_to_uniform01(w[lane]);
  }
  // Bulk: kLanes Philox blocks at a time in structure-of-arrays form, which compilers
  // vectorize (32x32->64 multiplies); bitwise the same words as philox_block.
  constexpr int kLanes = 8;
  const uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  const uint32_t s0 = static_cast<uint32_t>(stream), s1 = static_cast<uint32_t>(stream >> 32);
  for (; i + 4 * kLanes <= n; i += 4 * kLanes) {
    uint32_t c0[kLanes], c1[kLanes], c2[kLanes], c3[kLanes];
    for (int l = 0; l < kLanes; ++l) {
      // The index (not the block) wraps modulo 2^64, as in uniform01.
      const uint64_t b = (first + static_cast<uint64_t>(i + 4 * l)) >> 2;
      c0[l] = static_cast<uint32_t>(b);
      c1[l] = static_cast<uint32_t>(b >> 32);
      c2[l] = s0;
      c3[l] = s1;
    }
    uint32_t kk0 = k0, kk1 = k1;
    for (int r = 0; r < 10; ++r) {
      if (r) {
        kk0 += philox_detail::kW0;
        kk1 += philox_detail::kW1;
      }
      for (int l = 0; l < kLanes; ++l) {
        const uint64_t p0 = static_cast<uint64_t>(philox_detail::kM0) * c0[l];
        const uint64_t p1 = static_cast<uint64_t>(philox_detail::kM1) * c2[l];
        const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1[l] ^ kk0;
        const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3[l] ^ kk1;
        c1[l] = static_cast<uint32_t>(p1);
        c3[l] = static_cast<uint32_t>(p0);
        c0[l] = n0;
        c2[l] = n2;
      }
    }
    for (int l = 0; l < kLanes; ++l) {
      u[i + 4 * l] = u32_to_uniform01(c0[l]);
      u[i + 4 * l + 1] = u32_to_uniform01(c1[l]);
      u[i + 4 * l + 2] = u32_to_uniform01(c2[l]);
      u[i + 4 * l + 3] = u32_to_uniform01(c3[l]);
    }
  }
  for (; i + 4 <= n; i += 4) {
    philox_block(w, seed, stream, (first + static_cast<uint64_t>(i)) >> 2);
    u[i] = u32_to_uniform01(w[0]);
    u[i + 1] = u32_to_uniform01(w[1]);
    u[i + 2] = u32_to_uniform01(w[2]);
    u[i + 3] = u32_to_uniform01(w[3]);
  }
  if (i < n) {
    philox_block(w, seed, stream, (first + static_cast<uint64_t>(i)) >> 2);
    for (int lane = 0; i < n; ++lane, ++i) u[i] = u32_to_uniform01(w[lane]);
  }
}

}  // namespace lf
