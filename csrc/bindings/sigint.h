// Ctrl-C during a long native call. While a SigintScope is alive on Python's main thread, SIGINT
// sets the kernels' interrupt flag (core/interrupt.h) instead of only tripping Python's handler,
// which could not run before the kernel returned; the kernel skips its remaining blocks, and
// throw_if_interrupted() (GIL held, after the kernel) hands the signal back to Python, which
// raises KeyboardInterrupt -- or whatever a user-installed SIGINT handler does. On any other
// thread, or when SIGINT is ignored, the scope does nothing and the kernel runs to the end.
#pragma once

#include <Python.h>
#include <pybind11/pybind11.h>

#include <csignal>
#include <optional>
#include <stdexcept>

#include "core/interrupt.h"

namespace lf::bind {

class SigintScope {
 public:
  // With the GIL held, before releasing it for the kernel.
  SigintScope() {
    static const unsigned long main_ident = pybind11::module_::import("threading")
                                                .attr("main_thread")()
                                                .attr("ident")
                                                .cast<unsigned long>();
    if (PyThread_get_thread_ident() != main_ident || installed_here()) return;
#ifdef _WIN32
    old_ = std::signal(SIGINT, on_sigint);
    if (old_ == SIG_IGN || old_ == SIG_ERR) {
      if (old_ == SIG_IGN) std::signal(SIGINT, SIG_IGN);
      return;
    }
#else
    struct sigaction sa = {};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, nullptr, &old_) != 0 || old_.sa_handler == SIG_IGN) return;
    if (sigaction(SIGINT, &sa, nullptr) != 0) return;
#endif
    scope_.emplace();
    installed_here() = true;
  }

  ~SigintScope() { restore(); }
  SigintScope(const SigintScope&) = delete;
  SigintScope& operator=(const SigintScope&) = delete;

  // With the GIL held, after the kernel returned: when SIGINT arrived, give it to Python (which
  // raises KeyboardInterrupt) and throw, so that the caller's incomplete output is never returned.
  void throw_if_interrupted() {
    if (!scope_ || !scope_->interrupted()) return;
    restore();
    PyErr_SetInterrupt();
    if (PyErr_CheckSignals() != 0) throw pybind11::error_already_set();
    throw std::runtime_error(
        "interrupted by SIGINT (the SIGINT handler did not raise); the result was discarded");
  }

 private:
  static void on_sigint(int) { lf::request_interrupt(); }
  static bool& installed_here() {
    static thread_local bool installed = false;
    return installed;
  }
  void restore() {
    if (!scope_) return;
#ifdef _WIN32
    std::signal(SIGINT, old_);
#else
    sigaction(SIGINT, &old_, nullptr);
#endif
    installed_here() = false;
    scope_.reset();
  }

  std::optional<lf::InterruptScope> scope_;
#ifdef _WIN32
  void (*old_)(int) = SIG_DFL;
#else
  struct sigaction old_ = {};
#endif
};

}  // namespace lf::bind
