#include "system/Runtime.h"
#include "train/RunRequest.h"

#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <cstdlib>
#include <string>
#include <thread>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace medsiam::core {

void configureThreads(int threads)
{
    const int n = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    at::set_num_threads(n);
}

bool prefetchBatches(bool cuda)
{
    const char* v = std::getenv("MEDSIAM_PREFETCH");
    if (v && (std::string(v) == "0" || std::string(v) == "1"))
        return std::string(v) == "1";
    return cuda;
}

void releaseFreeMemory()
{
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}

void configureAllocator()
{
#if defined(__GLIBC__)
    // Large blocks come from the heap, not from mmap(); freed memory stays for the next step
    // unless more than 512 MiB lies free at the heap's top.
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
    mallopt(M_TOP_PAD, 16 << 20);
#endif
}

RuntimeInfo runtimeInfo()
{
    RuntimeInfo info;
    info.torchVersion = TORCH_VERSION;
    info.cudaAvailable = torch::cuda::is_available();
    info.cudaDevices = info.cudaAvailable ? static_cast<int>(torch::cuda::device_count()) : 0;
    info.threads = at::get_num_threads();
    return info;
}

bool cpuHasAvx512Bf16()
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16");
#else
    return false;
#endif
}

RunContext machineContext()
{
    RunContext c;
    c.cudaAvailable = torch::cuda::is_available();
    c.cpuBf16 = cpuHasAvx512Bf16();
    return c;
}

} // namespace medsiam::core
