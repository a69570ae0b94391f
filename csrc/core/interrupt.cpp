#include "core/interrupt.h"

#include <atomic>

namespace lf {

namespace {

std::atomic<bool> g_interrupt{false};
static_assert(std::atomic<bool>::is_always_lock_free, "the flag is set from a signal handler");
thread_local int t_scope_depth = 0;

}  // namespace

void request_interrupt() noexcept { g_interrupt.store(true, std::memory_order_relaxed); }

InterruptScope::InterruptScope() noexcept {
  if (t_scope_depth++ == 0) g_interrupt.store(false, std::memory_order_relaxed);
}

InterruptScope::~InterruptScope() {
  if (--t_scope_depth == 0) g_interrupt.store(false, std::memory_order_relaxed);
}

bool InterruptScope::interrupted() const noexcept {
  return g_interrupt.load(std::memory_order_relaxed);
}

InterruptPoll::InterruptPoll() noexcept : enabled_(t_scope_depth > 0) {}

bool InterruptPoll::flag_set() noexcept { return g_interrupt.load(std::memory_order_relaxed); }

}  // namespace lf
