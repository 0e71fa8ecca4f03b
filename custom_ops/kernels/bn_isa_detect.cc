// CPUID and XGETBV checks (see bn_isa_detect.h).
//
// __builtin_cpu_supports reads CPUID (libgcc also consults XGETBV); the
// explicit XCR0 test below makes the requirement visible: a CPU may have
// AVX-512 while the OS (or a hypervisor) does not save its registers, and
// then its instructions fault.
#include "bn_isa_detect.h"

#include <stdint.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define BN_X86 1
#else
#define BN_X86 0
#endif

namespace bn {
namespace detect {
namespace {

#if BN_X86
// XCR0 state-component bits (Intel SDM vol. 1, 13.1).
constexpr uint64_t kXcr0Sse = 1u << 1;
constexpr uint64_t kXcr0Ymm = 1u << 2;
constexpr uint64_t kXcr0Opmask = 1u << 5;
constexpr uint64_t kXcr0ZmmHi256 = 1u << 6;
constexpr uint64_t kXcr0Hi16Zmm = 1u << 7;
constexpr unsigned kCpuid1EcxOsxsave = 1u << 27;

// The register state the OS saves on context switches (0 without XSAVE).
uint64_t Xcr0() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & kCpuid1EcxOsxsave)) {
    return 0;
  }
  uint32_t lo = 0, hi = 0;
  // xgetbv as raw asm: the intrinsic would need -mxsave in this baseline file.
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (uint64_t{hi} << 32) | lo;
}

bool OsSaves(uint64_t components) {
  return (Xcr0() & components) == components;
}
#endif

}  // namespace

bool CpuHasAvx2() {
#if BN_X86
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("f16c") && OsSaves(kXcr0Sse | kXcr0Ymm);
#else
  return false;
#endif
}

bool CpuHasAvx512() {
#if BN_X86
  return CpuHasAvx2() && __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512vl") &&
         OsSaves(kXcr0Sse | kXcr0Ymm | kXcr0Opmask | kXcr0ZmmHi256 |
                 kXcr0Hi16Zmm);
#else
  return false;
#endif
}

}  // namespace detect
}  // namespace bn
