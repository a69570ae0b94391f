// How the CUDA emulator (emu/cuda_emu.h) orders the threads and blocks of a launch. Free of the
// emulator's CUDA macros, so bindings and launchers can include it.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace lf::emu {

enum class ScheduleKind : uint8_t {
  // One OS thread per CUDA thread, all running at once: the OS interleaves them as it likes.
  // Finds races only by chance, but exercises real concurrency (memory ordering, the barrier).
  concurrent,
  // Deterministic: the threads of a block run one at a time, each until it reaches
  // __syncthreads() or returns, in linear thread order (x fastest, then y, then z). Blocks run
  // in linear order (blockIdx.x fastest).
  forward,
  // As forward, with threads and blocks in reversed linear order.
  reverse,
  // As forward, with a fresh seeded permutation of the threads for every barrier interval of
  // every block, and the blocks in a seeded permutation. The same seed gives the same order.
  shuffled,
};

struct Schedule {
  ScheduleKind kind = ScheduleKind::forward;
  uint64_t seed = 0;  // used by `shuffled` only
};

inline constexpr ScheduleKind kScheduleKinds[] = {ScheduleKind::concurrent, ScheduleKind::forward,
                                                  ScheduleKind::reverse, ScheduleKind::shuffled};

constexpr const char* schedule_name(ScheduleKind k) {
  switch (k) {
    case ScheduleKind::concurrent: return "concurrent";
    case ScheduleKind::forward: return "forward";
    case ScheduleKind::reverse: return "reverse";
    case ScheduleKind::shuffled: return "shuffled";
  }
  return "?";
}

// "forward" -> ScheduleKind::forward; anything else throws std::invalid_argument.
inline Schedule parse_schedule(std::string_view name, uint64_t seed) {
  for (const ScheduleKind k : kScheduleKinds) {
    if (name == schedule_name(k)) return {k, seed};
  }
  throw std::invalid_argument("emulated CUDA: unknown schedule '" + std::string(name) +
                              "' (concurrent, forward, reverse or shuffled)");
}

}  // namespace lf::emu
