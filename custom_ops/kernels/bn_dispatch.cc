// The unsuffixed CPU entry points of bn_kernels.h: each forwards to the
// instruction-set level chosen once per process (see bn_isa.h). Compiled
// once, for the baseline, so it runs on every x86-64 CPU.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bn_cpu_levels.h"
#include "bn_isa_detect.h"
#include "bn_kernels.h"

namespace {

constexpr char kIsaEnv[] = "TF_BN_COMPAT_ISA";

struct Level {
  const char* name;
  bool (*cpu_has)();
  decltype(&bn_cpu_stats) stats;
  decltype(&bn_cpu_inv_std) inv_std;
  decltype(&bn_cpu_transform) transform;
  decltype(&bn_cpu_forward) forward;
  decltype(&bn_cpu_backward) backward;
};

bool Always() { return true; }

#define BN_LEVEL(level, cpu_has)                                           \
  Level {                                                                  \
    #level, cpu_has, bn_cpu_stats_##level, bn_cpu_inv_std_##level,         \
        bn_cpu_transform_##level, bn_cpu_forward_##level,                  \
        bn_cpu_backward_##level                                            \
  }

// Lowest first; a CPU with a level has every level before it.
const Level kLevels[] = {
    BN_LEVEL(baseline, Always),
    BN_LEVEL(avx2, bn::detect::CpuHasAvx2),
    BN_LEVEL(avx512, bn::detect::CpuHasAvx512),
};
#undef BN_LEVEL

struct Choice {
  const Level* level = nullptr;
  int status = BN_OK;
  char supported[64] = "";
  char error[256] = "";
};

Choice Choose() {
  Choice c;
  const Level* best = &kLevels[0];
  for (const Level& l : kLevels) {
    if (!l.cpu_has()) break;
    best = &l;
    if (c.supported[0]) strncat(c.supported, ",", sizeof(c.supported) - 1);
    strncat(c.supported, l.name,
            sizeof(c.supported) - strlen(c.supported) - 1);
  }
  const char* want = getenv(kIsaEnv);
  if (want == nullptr || want[0] == '\0' || strcasecmp(want, "auto") == 0) {
    c.level = best;
    return c;
  }
  for (const Level& l : kLevels) {
    if (strcasecmp(want, l.name) != 0) continue;
    if (&l <= best) {
      c.level = &l;
      return c;
    }
    c.status = BN_ERR_ISA_UNSUPPORTED;
    snprintf(c.error, sizeof(c.error),
             "%s=%.32s asks for an instruction-set level this CPU does not "
             "support (it supports %s); unset %s or choose a supported level",
             kIsaEnv, want, c.supported, kIsaEnv);
    return c;
  }
  c.status = BN_ERR_ISA_UNKNOWN;
  snprintf(c.error, sizeof(c.error),
           "%s=%.32s is not a known instruction-set level (auto, baseline, "
           "avx2, avx512; this CPU supports %s)",
           kIsaEnv, want, c.supported);
  return c;
}

const Choice& Chosen() {
  static const Choice choice = Choose();
  return choice;
}

// Calls the chosen level's `fn` with args, or returns why there is none.
template <typename Fn, typename... Args>
int Run(Fn Level::*fn, Args... args) {
  const Choice& c = Chosen();
  return c.status != BN_OK ? c.status : (c.level->*fn)(args...);
}

}  // namespace

extern "C" const char* bn_cpu_isa(void) {
  const Choice& c = Chosen();
  return c.level != nullptr ? c.level->name : nullptr;
}

extern "C" const char* bn_cpu_isa_supported(void) {
  return Chosen().supported;
}

extern "C" int bn_cpu_isa_status(void) { return Chosen().status; }

extern "C" const char* bn_cpu_isa_error(void) { return Chosen().error; }

extern "C" int bn_cpu_stats(const bn_stats_args_t* args,
                            bn_parallel_for_fn parallel_for, void* pf_ctx) {
  return Run(&Level::stats, args, parallel_for, pf_ctx);
}

extern "C" int bn_cpu_inv_std(const float* variance, int64_t c, float epsilon,
                              float* inv_std) {
  return Run(&Level::inv_std, variance, c, epsilon, inv_std);
}

extern "C" int bn_cpu_transform(const bn_transform_args_t* args,
                                bn_parallel_for_fn parallel_for, void* pf_ctx) {
  return Run(&Level::transform, args, parallel_for, pf_ctx);
}

extern "C" int bn_cpu_forward(const bn_forward_args_t* args,
                              bn_parallel_for_fn parallel_for, void* pf_ctx) {
  return Run(&Level::forward, args, parallel_for, pf_ctx);
}

extern "C" int bn_cpu_backward(const bn_backward_args_t* args,
                               bn_parallel_for_fn parallel_for, void* pf_ctx) {
  return Run(&Level::backward, args, parallel_for, pf_ctx);
}
