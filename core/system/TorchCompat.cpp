#include "system/TorchCompat.h"

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <mutex>

namespace medsiam::core::compat {

namespace {
bool available(bool cuda) { return !cuda || torch::cuda::is_available(); }
at::Generator generator(bool cuda) { return at::globalContext().defaultGenerator(at::Device(cuda ? at::kCUDA : at::kCPU)); }

#if TORCH_VERSION_MAJOR >= 2 && (TORCH_VERSION_MAJOR > 2 || TORCH_VERSION_MINOR >= 4)
bool autocastEnabled(bool cuda) { return at::autocast::is_autocast_enabled(cuda ? at::kCUDA : at::kCPU); }
void setAutocast(bool cuda, bool on)
{
    const auto device = cuda ? at::kCUDA : at::kCPU;
    at::autocast::set_autocast_dtype(device, at::kBFloat16);
    at::autocast::set_autocast_enabled(device, on);
}
#else
bool autocastEnabled(bool cuda) { return cuda ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled(); }
void setAutocast(bool cuda, bool on)
{
    if (cuda) {
        at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
        at::autocast::set_enabled(on);
    } else {
        at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
        at::autocast::set_cpu_enabled(on);
    }
}
#endif
} // namespace

at::Tensor generatorState(bool cuda)
{
    if (!available(cuda))
        return {};
    auto gen = generator(cuda);
    std::lock_guard<std::mutex> lock(gen.mutex());
    return gen.get_state();
}

void setGeneratorState(bool cuda, const at::Tensor& state)
{
    if (!available(cuda))
        return;
    auto gen = generator(cuda);
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(state);
}

void synchronize()
{
    if (torch::cuda::is_available())
        torch::cuda::synchronize();
}

Autocast::Autocast(bool cuda, bool enabled) : m_cuda(cuda), m_enabled(enabled)
{
    if (!m_enabled)
        return;
    m_previous = autocastEnabled(cuda);
    setAutocast(cuda, true);
}

Autocast::~Autocast()
{
    if (!m_enabled)
        return;
    setAutocast(m_cuda, m_previous);
    if (!m_previous)
        at::autocast::clear_cache();
}

} // namespace medsiam::core::compat
