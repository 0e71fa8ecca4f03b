// Scratch memory for the CPU kernels' block partials, kept by the calling
// thread between calls.
//
// A reduction needs two doubles per (channel, block): 1.6 MB for a 25 MB
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

// `count` uninitialized values of type T, valid for the object's lifetime.
// Nested scratch of one type on one thread gets a buffer of its own. Throws
// std::bad_alloc.
template <typename T>
class Scratch {
 public:
  explicit Scratch(int64_t count) {
    Kept& kept = ThreadKept();
    const bool keep = !kept.in_use &&
                      count * int64_t{sizeof(T)} <= kMaxKeptScratchBytes;
    if (!keep) {
      owned_.reset(new T[count > 0 ? count : 1]);
      data_ = owned_.get();
      return;
    }
    if (kept.size < count) {
      // Free first (no peak of both), and record the empty state before the
      // allocation that may throw, so a failure leaves no stale size behind.
      kept.buffer.reset();
      kept.size = 0;
      kept.buffer.reset(new T[count]);
      kept.size = count;
    }
    kept.in_use = true;
    uses_kept_ = true;
    data_ = kept.buffer.get();
  }
  ~Scratch() {
    if (uses_kept_) ThreadKept().in_use = false;
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  T* data() const { return data_; }

 private:
  struct Kept {
    std::unique_ptr<T[]> buffer;
    int64_t size = 0;
    bool in_use = false;
  };
  static Kept& ThreadKept() {
    thread_local Kept kept;
    return kept;
  }

  std::unique_ptr<T[]> owned_;
  T* data_ = nullptr;
  bool uses_kept_ = false;
};

// Block partials of the reductions (see bn_cpu_blocks.h).
using ScratchDoubles = Scratch<double>;

BN_ISA_END

#endif  // TF_BN_COMPAT_KERNELS_BN_CPU_SCRATCH_H_
