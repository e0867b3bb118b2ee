#pragma once
#include <string>

namespace medsiam::core {

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

RuntimeInfo runtimeInfo();

} // namespace medsiam::core
