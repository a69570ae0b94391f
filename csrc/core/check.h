// Checks that throw. C++ in latentforge never exits or aborts: a failed check throws, and
// pybind11 turns std::invalid_argument into ValueError and std::runtime_error into RuntimeError.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace lf::detail {
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace lf::detail

// LF_CHECK(cond, "message parts", value, ...) -> throws std::invalid_argument (ValueError).
#define LF_CHECK(cond, ...)                                                      \
  do {                                                                           \
    if (!(cond)) throw std::invalid_argument(::lf::detail::concat(__VA_ARGS__)); \
  } while (0)

// LF_CHECK_RT(cond, ...) -> throws std::runtime_error (RuntimeError), for failures that are not
// the caller's fault (allocation, device errors).
#define LF_CHECK_RT(cond, ...)                                                \
  do {                                                                        \
    if (!(cond)) throw std::runtime_error(::lf::detail::concat(__VA_ARGS__)); \
  } while (0)
