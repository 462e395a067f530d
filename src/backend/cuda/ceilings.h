// The GPU's ceilings, measured in the run that reports ratios against them (encore bench
// --device cuda): the matrix rate of a cuBLASLt bf16 GEMM of 8192^3 on random data (f32
// accumulation) and the bandwidth of a large device-to-device copy (bytes read plus written).
#pragma once

#include <string>

namespace encore {

struct DeviceCeilings {
    std::string device_name;
    double gemm_tflops = 0;  // median of the timed GEMMs
    double copy_gbps = 0;    // median of the timed copies, bytes read + written
    double memory_gib = 0;   // the card's memory
};

// Fails with a one-line error when there is no CUDA backend or device.
DeviceCeilings measure_cuda_ceilings(int device = 0);

}  // namespace encore
