#pragma once
// Reading and writing named tensors without LibTorch: the weight formats that BiT and timm
// publish (.npz, safetensors, torch.save pickles) and medsiam's own checkpoints (safetensors
// with medsiam metadata). The model code turns these into torch tensors.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace medsiam::core {

enum class DType { F32, F64, F16, BF16, I64, I32, I16, I8, U8, Bool };

/// "F32", "I64", ... as safetensors spells them.
const char* dtypeCode(DType dtype);
int dtypeSize(DType dtype);

/// One named array, C-contiguous, little-endian.
struct RawTensor {
    std::string name;
    DType dtype = DType::F32;
    std::vector<int64_t> shape;
    std::vector<uint8_t> data;

    int64_t numel() const;
    /// "[3,3,64,64]" for messages.
    std::string shapeText() const;
    /// The values as float32, whatever the stored floating or integer type.
    std::vector<float> toFloat() const;
};

std::string shapeText(const std::vector<int64_t>& shape);

enum class TensorFileFormat { Unknown, BitNpz, Safetensors, TorchPickle };

/// Human-readable format name for messages: "BiT .npz", "safetensors", "PyTorch pickle".
const char* formatName(TensorFileFormat format);

struct TensorFile {
    std::string path;
    TensorFileFormat format = TensorFileFormat::Unknown;
    std::vector<RawTensor> tensors;
    /// safetensors "__metadata__" (string to string); empty for other formats.
    std::map<std::string, std::string> metadata;

    const RawTensor* find(const std::string& name) const;
};

/// Looks at the first bytes of `path` and says which format it holds. Throws UserError when the
/// file cannot be read.
TensorFileFormat sniffTensorFile(const std::string& path);

/// Reads any supported format. Every failure (unknown or truncated file, bad header, unsupported
/// dtype or pickle content) throws UserError naming the file and the problem; nothing crashes.
TensorFile readTensorFile(const std::string& path);

/// Official BiT .npz (and any NumPy savez archive of arrays): names without ".npy".
TensorFile readNpzTensors(const std::string& path);
/// safetensors: 8-byte little-endian header size, JSON header, raw data.
TensorFile readSafetensors(const std::string& path);
/// The __metadata__ of a safetensors file, from its header alone (the tensors are not read).
/// Empty when the file is not safetensors or its header cannot be read.
std::map<std::string, std::string> readSafetensorsMetadata(const std::string& path);
/// torch.save zip archives (PyTorch 1.6 and later) of a state dict, a plain dict or an
/// OrderedDict, optionally nested under "state_dict" or "model". Read by a restricted unpickler
/// that knows only tensors, storages and containers: it runs no code from the file.
TensorFile readTorchPickle(const std::string& path);

/// Writes a safetensors file atomically (temp file, fsync, rename): a crash leaves the previous
/// file intact.
void writeSafetensors(const std::string& path, const std::vector<RawTensor>& tensors,
                      const std::map<std::string, std::string>& metadata);

} // namespace medsiam::core
