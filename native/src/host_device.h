// TS_HOST_DEVICE: a function both backends compile, for the host and, under nvcc, the device.
#pragma once

#if defined(__CUDACC__)
#define TS_HOST_DEVICE __host__ __device__
#else
#define TS_HOST_DEVICE
#endif
