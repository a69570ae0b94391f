#include "core/cpu_features.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>

#include "core/check.h"

namespace lf {
namespace {

Isa detect() {
#if defined(LF_HAVE_X86_KERNELS) && (defined(__GNUC__) || defined(__clang__))
  // __builtin_cpu_supports checks CPUID and that the OS saves the wider registers (XCR0).
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) {
    return Isa::avx512;
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::avx2;
#endif
  return Isa::scalar;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

Isa initial_cap() {
  const char* env = std::getenv("LATENTFORGE_ISA");
  if (env == nullptr || *env == '\0') return Isa::avx512;
  try {
    return parse_isa(env);
  } catch (const std::invalid_argument&) {
    // An unknown value must not make the import fail; build_info() shows the request.
    return Isa::avx512;
  }
}

std::atomic<int>& cap_storage() {
  static std::atomic<int> cap{static_cast<int>(initial_cap())};
  return cap;
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    default: return "scalar";
  }
}

Isa parse_isa(const std::string& name) {
  const std::string n = lower(name);
  if (n == "avx512" || n == "avx-512") return Isa::avx512;
  if (n == "avx2") return Isa::avx2;
  if (n == "scalar" || n == "sse" || n == "sse2" || n == "generic") return Isa::scalar;
  LF_CHECK(false, "unknown ISA '", name, "': expected one of avx512, avx2, scalar");
  return Isa::scalar;
}

Isa detected_isa() {
  static const Isa isa = detect();
  return isa;
}

Isa active_isa() {
  return static_cast<Isa>(std::min(static_cast<int>(detected_isa()), cap_storage().load()));
}

Isa set_isa_cap(Isa cap) {
  cap_storage().store(static_cast<int>(cap));
  return active_isa();
}

std::string isa_env_request() {
  const char* env = std::getenv("LATENTFORGE_ISA");
  return env ? std::string(env) : std::string();
}

}  // namespace lf
