// Cooperative cancellation of long kernels (Ctrl-C).
//
// A kernel that can run for seconds (kNN over 70,000 points, a large GEMM) constructs an
// InterruptPoll on the calling thread before its parallel region and asks it, from any thread,
// once per block of work; once it answers true the remaining blocks are skipped, the kernel
// returns early, and its caller must throw away the (incomplete) output. Polling is enabled only
// on a thread that has an InterruptScope alive (the bindings open one on Python's main thread,
// where SIGINT is delivered to Python), so a kernel called from any other thread always runs to
// the end. The flag itself is set by request_interrupt() (async-signal-safe: the bindings' SIGINT
// handler calls it) and cleared when the outermost scope closes.
#pragma once

namespace lf {

// Sets the interrupt flag. Async-signal-safe (one lock-free atomic store).
void request_interrupt() noexcept;

// Enables polling on this thread while alive (nesting allowed); the outermost one clears the flag
// when it opens and when it closes.
class InterruptScope {
 public:
  InterruptScope() noexcept;
  ~InterruptScope();
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;
  // Whether request_interrupt() was called since the outermost scope opened.
  bool interrupted() const noexcept;
};

// Constructed on the thread that called the kernel: captures whether polling is enabled there.
// operator() is a relaxed atomic load (when enabled), cheap enough for once per block.
class InterruptPoll {
 public:
  InterruptPoll() noexcept;
  bool operator()() const noexcept { return enabled_ && flag_set(); }

 private:
  static bool flag_set() noexcept;
  bool enabled_;
};

}  // namespace lf
