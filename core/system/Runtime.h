#pragma once
#include <string>

namespace medsiam::core {

struct RunContext;

/// Facts about the compute runtime, for `medsiam-cli --version` and the GUI's about box.
struct RuntimeInfo {
    std::string torchVersion;
    bool cudaAvailable = false;
    int cudaDevices = 0;
    int threads = 0;
};

/// Sets LibTorch's intra-op thread count to `threads` (0: every core). LibTorch otherwise uses
/// one thread on some systems. Call once at start-up, before any tensor work.
void configureThreads(int threads = 0);

/// Keeps freed memory in the process instead of handing it back to the system after every
/// tensor: glibc serves large blocks with fresh mmap()s by default, and a training step's
/// activations then cost a page fault per 4 KiB on every step (half the step's time on a 2-core
/// CPU, docs/TRAINING.md). Call once at start-up; a no-op outside glibc.
void configureAllocator();

/// Whether training makes the next batch's host share on a background thread while a step runs
/// (util/Prefetcher). On a GPU, yes: the CPU gathers and pins the next uint8 batch while the GPU
/// computes. On the CPU, no: the host is the device, and a second thread's parallel loops share
/// the cores with the step's (bench/prefetch.sh on 2 cores: 0.52-0.56x on bit-nano, 0.77-1.03x
/// on ResNet-18). The environment's MEDSIAM_PREFETCH=0 or 1 overrides both, to compare; read as a
/// job starts.
bool prefetchBatches(bool cuda);

/// Hands the memory that freed tensors left in the process back to the system (which
/// configureAllocator otherwise keeps): after a step ran out of memory, so that what comes next
/// (smaller passes, LibTorch's kernels compiled for them) has room. A no-op outside glibc.
void releaseFreeMemory();

RuntimeInfo runtimeInfo();

/// Whether this CPU has AVX512-BF16 (native bf16 dot products).
bool cpuHasAvx512Bf16();
/// What the run builders need to know of this machine (RunRequest.h): CUDA, AVX512-BF16.
RunContext machineContext();

} // namespace medsiam::core
