#pragma once
// Conversions between medsiam's torch-free RawTensor and torch::Tensor (exact, byte for byte).
#include "io/TensorFile.h"

#include <ATen/core/Tensor.h>

namespace medsiam::core {

/// A CPU tensor holding a copy of `raw`'s bytes, with the matching dtype.
at::Tensor rawToTorch(const RawTensor& raw);
/// A RawTensor holding a copy of `tensor` (moved to the CPU and made contiguous). Throws
/// UserError for dtypes that safetensors files cannot hold.
RawTensor torchToRaw(const std::string& name, const at::Tensor& tensor);

} // namespace medsiam::core
