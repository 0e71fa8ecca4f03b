// The instruction-set level a CPU kernel source is compiled for.
//
// Every custom_ops/kernels/bn_cpu_*.cc is compiled once per level, with that
// level's -m flags and -DBN_ISA=<level> (custom_ops/build_spec.bzl lists
// them):
//   baseline  plain x86-64 (SSE2), no -m flags;
//   avx2      -mavx2 -mfma -mf16c;
//   avx512    avx2 plus -mavx512f -mavx512bw -mavx512dq -mavx512vl.
// bn_dispatch.cc (compiled once, for the baseline) picks one at run time.
//
// All C++ code of those sources and of the headers they include lives in
// namespace bn::isa_<level> (inline, so the code says bn::Foo): inline
// functions and templates compiled with different flags get different symbol
// names, so the linker can never keep one level's copy for another level's
// calls (which would run AVX-512 instructions on a CPU without them). The C
// entry points carry the level as a suffix: BN_ISA_ENTRY(bn_cpu_forward) is
// bn_cpu_forward_avx512 in the avx512 objects.
#ifndef TF_BN_COMPAT_KERNELS_BN_ISA_H_
#define TF_BN_COMPAT_KERNELS_BN_ISA_H_

#define BN_ISA_baseline 1
#define BN_ISA_avx2 2
#define BN_ISA_avx512 3
#define BN_ISA_cuda 4

#ifndef BN_ISA
#if defined(__CUDACC__)
// Host code of the CUDA sources (headers shared with the CPU kernels).
#define BN_ISA cuda
#else
#error "compile the CPU kernels with -DBN_ISA=baseline|avx2|avx512"
#endif
#endif

#define BN_ISA_CAT2_(a, b) a##_##b
#define BN_ISA_CAT_(a, b) BN_ISA_CAT2_(a, b)
#define BN_ISA_LEVEL_(level) BN_ISA_##level
// BN_ISA_ID: the level as one of the numbers above, for #if.
#define BN_ISA_ID_(level) BN_ISA_LEVEL_(level)
#define BN_ISA_ID BN_ISA_ID_(BN_ISA)

#define BN_ISA_NAMESPACE BN_ISA_CAT_(isa, BN_ISA)
#define BN_ISA_ENTRY(name) BN_ISA_CAT_(name, BN_ISA)
#define BN_ISA_BEGIN \
  namespace bn {     \
  inline namespace BN_ISA_NAMESPACE {
#define BN_ISA_END \
  }                \
  }

// The flags must give what the level promises, and no more: code of a lower
// level must run on every CPU of that level.
#if BN_ISA_ID == BN_ISA_baseline
#if defined(__AVX__) || defined(__F16C__) || defined(__FMA__)
#error "BN_ISA=baseline compiled with AVX, F16C or FMA enabled"
#endif
#elif BN_ISA_ID == BN_ISA_avx2
#if !defined(__AVX2__) || !defined(__FMA__) || !defined(__F16C__)
#error "BN_ISA=avx2 needs -mavx2 -mfma -mf16c"
#endif
#if defined(__AVX512F__)
#error "BN_ISA=avx2 compiled with AVX-512 enabled"
#endif
#elif BN_ISA_ID == BN_ISA_avx512
#if !defined(__AVX512F__) || !defined(__AVX512BW__) || \
    !defined(__AVX512DQ__) || !defined(__AVX512VL__) || !defined(__AVX2__) || \
    !defined(__FMA__) || !defined(__F16C__)
#error "BN_ISA=avx512 needs -mavx512{f,bw,dq,vl} -mavx2 -mfma -mf16c"
#endif
#elif BN_ISA_ID != BN_ISA_cuda
#error "BN_ISA must be baseline, avx2 or avx512"
#endif

#endif  // TF_BN_COMPAT_KERNELS_BN_ISA_H_
