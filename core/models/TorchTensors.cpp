#include "models/TorchTensors.h"

#include "util/Error.h"

#include <ATen/ATen.h>

#include <cstring>

namespace medsiam::core {

namespace {
const std::pair<DType, at::ScalarType> kTypes[] = {
    {DType::F32, at::kFloat}, {DType::F64, at::kDouble}, {DType::F16, at::kHalf}, {DType::BF16, at::kBFloat16},
    {DType::I64, at::kLong},  {DType::I32, at::kInt},    {DType::I16, at::kShort}, {DType::I8, at::kChar},
    {DType::U8, at::kByte},   {DType::Bool, at::kBool}};
} // namespace

at::Tensor rawToTorch(const RawTensor& raw)
{
    at::ScalarType type = at::kFloat;
    for (const auto& [d, t] : kTypes)
        if (d == raw.dtype)
            type = t;
    auto tensor = at::empty(raw.shape, at::TensorOptions().dtype(type));
    if (!raw.data.empty())
        std::memcpy(tensor.data_ptr(), raw.data.data(), raw.data.size());
    return tensor;
}

RawTensor torchToRaw(const std::string& name, const at::Tensor& tensor)
{
    RawTensor raw;
    raw.name = name;
    bool known = false;
    for (const auto& [d, t] : kTypes)
        if (t == tensor.scalar_type()) {
            raw.dtype = d;
            known = true;
        }
    if (!known)
        throw UserError("tensor '" + name + "' has a dtype that checkpoints cannot hold");
    const auto cpu = tensor.detach().to(at::kCPU).contiguous();
    raw.shape = cpu.sizes().vec();
    raw.data.resize(static_cast<size_t>(cpu.numel() * cpu.element_size()));
    if (!raw.data.empty())
        std::memcpy(raw.data.data(), cpu.data_ptr(), raw.data.size());
    return raw;
}

} // namespace medsiam::core
