// What this op library was built for, as text in its bytes:
//   "TF_BN_COMPAT_BUILD_INFO tf=2.21.0 ... abi=1"
// tf_bn_compat/build/build_info.py finds it in the file without loading the
// library, so that a library built for another TensorFlow is never loaded.
// The build passes the fields that only it knows (TensorFlow version, ISA
// levels, sources hash) as TF_BN_COMPAT_BUILD_INFO; the C++ ABI is the one
// this file is really compiled with.
#include <cstddef>

#ifndef TF_BN_COMPAT_BUILD_INFO
#error "compile with -DTF_BN_COMPAT_BUILD_INFO='\"tf=<version> ...\"'"
#endif

#define TF_BN_COMPAT_STR_(x) #x
#define TF_BN_COMPAT_STR(x) TF_BN_COMPAT_STR_(x)

extern "C" __attribute__((used, visibility("default")))
const char tf_bn_compat_build_info[] =
    "TF_BN_COMPAT_BUILD_INFO " TF_BN_COMPAT_BUILD_INFO
    " abi=" TF_BN_COMPAT_STR(_GLIBCXX_USE_CXX11_ABI);
