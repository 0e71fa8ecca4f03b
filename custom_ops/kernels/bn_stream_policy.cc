// Which outputs the CPU kernels write with streaming stores (bn_cpu_stream.h).
//
// Streaming skips the read-for-ownership of each output line but also leaves
// the output out of the caches. In a training step the next layer reads a
// batch norm's output at once, so streaming pays only for outputs that would
// not stay in the last-level cache anyway: at least twice its size. Compiled
// once, for the baseline.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bn_kernels.h"

namespace {

constexpr int64_t kMiB = int64_t{1} << 20;
constexpr int64_t kFloorBytes = 8 * kMiB;
// Where sysfs gives no cache size (not Linux, or a container hiding it).
constexpr int64_t kUnknownCacheBytes = 64 * kMiB;
constexpr char kEnv[] = "TF_BN_COMPAT_STREAM_MIN_BYTES";

// A sysfs cache size such as "32768K" or "32M", in bytes; 0 if unreadable.
int64_t ReadCacheSize(const char* path) {
  FILE* f = fopen(path, "r");
  if (f == nullptr) return 0;
  long long value = 0;
  char unit = '\0';
  const int read = fscanf(f, "%lld%c", &value, &unit);
  fclose(f);
  if (read < 1 || value <= 0) return 0;
  if (unit == 'K') return value * 1024;
  if (unit == 'M') return value * kMiB;
  return value;
}

// The largest cache of CPU 0 that sysfs lists (its last level); 0 if none.
int64_t LastLevelCacheBytes() {
  int64_t largest = 0;
  for (int index = 0; index < 8; ++index) {
    char path[96];
    snprintf(path, sizeof(path),
             "/sys/devices/system/cpu/cpu0/cache/index%d/size", index);
    const int64_t size = ReadCacheSize(path);
    if (size > largest) largest = size;
  }
  return largest;
}

// The environment's positive integer, or 0 when unset or not one.
int64_t FromEnvironment() {
  const char* text = getenv(kEnv);
  if (text == nullptr || text[0] == '\0') return 0;
  char* end = nullptr;
  const long long value = strtoll(text, &end, 10);
  return (*end == '\0' && value > 0) ? value : 0;
}

int64_t Choose() {
  const int64_t given = FromEnvironment();
  if (given > 0) return given;
  const int64_t cache = LastLevelCacheBytes();
  if (cache == 0) return kUnknownCacheBytes;
  return 2 * cache > kFloorBytes ? 2 * cache : kFloorBytes;
}

}  // namespace

extern "C" int64_t bn_cpu_stream_min_bytes(void) {
  static const int64_t chosen = Choose();
  return chosen;
}
