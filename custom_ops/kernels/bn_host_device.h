// BN_HOST_DEVICE marks a function that the CUDA kernels call on the device
// and the CPU kernels (or the CUDA host code) call on the host: `__host__
// __device__` under nvcc, nothing for a plain C++ compiler.
#ifndef TF_BN_COMPAT_KERNELS_BN_HOST_DEVICE_H_
#define TF_BN_COMPAT_KERNELS_BN_HOST_DEVICE_H_

#if defined(__CUDACC__)
#define BN_HOST_DEVICE __host__ __device__
#else
#define BN_HOST_DEVICE
#endif

#endif  // TF_BN_COMPAT_KERNELS_BN_HOST_DEVICE_H_
