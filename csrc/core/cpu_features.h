// Runtime CPU feature detection and the ISA the SIMD kernels dispatch on.
//
// Every SIMD kernel is compiled for each ISA in its own translation unit (no -march=native);
// the ISA used at run time is the best one that both the CPU/OS supports and the user allows.
// LATENTFORGE_ISA=avx512|avx2|scalar (read once, at first use) caps it, so tests can exercise
// the lower paths on any machine. Requesting an ISA the CPU lacks falls back to the best one
// available, and build_info() reports what was requested and what is used.
#pragma once

#include <string>

namespace lf {

enum class Isa : int { scalar = 0, avx2 = 1, avx512 = 2 };

const char* isa_name(Isa isa);
// Parses "scalar" | "avx2" | "avx512" (case-insensitive); throws std::invalid_argument otherwise.
Isa parse_isa(const std::string& name);

// Best ISA this CPU and OS support (and that this build compiled kernels for).
Isa detected_isa();
// ISA the kernels use now: min(detected, cap). The cap starts from LATENTFORGE_ISA.
Isa active_isa();
// Caps the ISA (tests and benchmarks); returns the ISA now active.
Isa set_isa_cap(Isa cap);
// The value of LATENTFORGE_ISA at startup ("" when unset).
std::string isa_env_request();

}  // namespace lf
