// Scratch memory for the CPU kernels' block partials, kept by the calling
// thread between calls.
//
// A reduction needs two floats per (channel, block): 0.8 MB for a 25 MB
// NHWC tensor with c = 512. Allocated per call, such a buffer lies above
// glibc's mmap threshold and comes back as fresh pages every time: the page
// faults and zeroing measured 0.4 ms per call, a third of the reduction.
// Buffers up to kMaxKeptScratchBytes are kept by the thread that asked for
// them (TensorFlow runs an op's Compute on a few inter-op threads); larger
// ones are freed after the call so that one huge tensor does not pin memory.
#ifndef TF_BN_COMPAT_KERNELS_BN_CPU_SCRATCH_H_
#define TF_BN_COMPAT_KERNELS_BN_CPU_SCRATCH_H_

#include <stdint.h>

#include <memory>

#include "bn_isa.h"

BN_ISA_BEGIN

constexpr int64_t kMaxKeptScratchBytes = int64_t{16} << 20;

// `count` uninitialized floats, valid for the object's lifetime. Nested
// scratch on one thread gets a buffer of its own. Throws std::bad_alloc.
class ScratchFloats {
 public:
  explicit ScratchFloats(int64_t count) {
    Kept& kept = ThreadKept();
    const bool keep = !kept.in_use &&
                      count * int64_t{sizeof(float)} <= kMaxKeptScratchBytes;
    if (!keep) {
      owned_.reset(new float[count > 0 ? count : 1]);
      data_ = owned_.get();
      return;
    }
    if (kept.size < count) {
      // Free first (no peak of both), and record the empty state before the
      // allocation that may throw, so a failure leaves no stale size behind.
      kept.buffer.reset();
      kept.size = 0;
      kept.buffer.reset(new float[count]);
      kept.size = count;
    }
    kept.in_use = true;
    uses_kept_ = true;
    data_ = kept.buffer.get();
  }
  ~ScratchFloats() {
    if (uses_kept_) ThreadKept().in_use = false;
  }
  ScratchFloats(const ScratchFloats&) = delete;
  ScratchFloats& operator=(const ScratchFloats&) = delete;

  float* data() const { return data_; }

 private:
  struct Kept {
    std::unique_ptr<float[]> buffer;
    int64_t size = 0;
    bool in_use = false;
  };
  static Kept& ThreadKept() {
    thread_local Kept kept;
    return kept;
  }

  std::unique_ptr<float[]> owned_;
  float* data_ = nullptr;
  bool uses_kept_ = false;
};

BN_ISA_END

#endif  // TF_BN_COMPAT_KERNELS_BN_CPU_SCRATCH_H_
