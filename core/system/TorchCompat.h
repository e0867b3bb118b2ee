#pragma once
// Every difference between LibTorch 1.13 (Debian) and 2.x (the CUDA machines) lives here.
#include <ATen/core/Tensor.h>

namespace medsiam::core::compat {

/// The default CPU or CUDA generator's state; undefined for CUDA when there is no GPU.
at::Tensor generatorState(bool cuda);
void setGeneratorState(bool cuda, const at::Tensor& state);

/// Waits for queued CUDA work (no-op without CUDA), for honest timings.
void synchronize();

/// RAII: autocast to bfloat16 on `deviceType` ("cpu" or "cuda") while alive, when `enabled`.
class Autocast {
public:
    Autocast(bool cuda, bool enabled);
    ~Autocast();
    Autocast(const Autocast&) = delete;
    Autocast& operator=(const Autocast&) = delete;

private:
    bool m_cuda, m_enabled, m_previous = false;
};

} // namespace medsiam::core::compat
