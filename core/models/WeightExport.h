#pragma once
// Taking a medsiam network to other tools: the backbone (and its classification head, when it
// has one) written in timm's state-dict naming as safetensors, or in the official BiT .npz
// naming, the two layouts WeightImport.h reads. docs/MODELS.md shows how Python loads them.
//
// A 1-channel network is written with a 3-channel stem, as the published models have: fed a gray
// image in all three channels, the exported network computes what medsiam's does (see
// docs/MODELS.md for the construction under weight standardization). The exact 1-channel stem
// rides along (safetensors metadata; "medsiam/..." arrays in the .npz, which BiT loaders do not
// read), so that medsiam reads its own export back bit for bit.
#include "io/TensorFile.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace medsiam::core {

class BackboneImpl;

enum class ExportFormat { Timm, BitNpz };
/// "timm" or "bit-npz"; nullopt otherwise.
std::optional<ExportFormat> parseExportFormat(const std::string& text);
const char* exportFormatName(ExportFormat format);
/// The file name extension a format's files have (".safetensors", ".npz").
const char* exportExtension(ExportFormat format);

/// A backbone's tensors in a format's naming, ready to write.
struct ExportedWeights {
    std::vector<RawTensor> tensors;
    std::map<std::string, std::string> metadata; ///< safetensors only
    std::vector<std::string> notes;              ///< what the user should know (for the model card)
    bool hasHead = false;
};

/// The backbone's tensors in `format`'s naming (float32). Throws UserError for a network the
/// format cannot hold: the BiT naming holds ResNet-v2 with GroupNorm only.
ExportedWeights exportBackboneWeights(BackboneImpl& backbone, ExportFormat format);

/// Writes exported weights as safetensors (Timm) or an uncompressed .npz (BitNpz), atomically.
/// Throws UserError when the file cannot be written.
void writeExportedWeights(const std::string& path, const ExportedWeights& weights, ExportFormat format);

/// The metadata key and .npz array names that carry a 1-channel stem's exact tensors.
constexpr const char* kGrayStemWeightKey = "medsiam.gray_stem.weight";
constexpr const char* kGrayStemGainKey = "medsiam.gray_stem.ws_gain";
constexpr const char* kGrayStemNpzWeight = "medsiam/gray_stem/weight";
constexpr const char* kGrayStemNpzGain = "medsiam/gray_stem/ws_gain";

/// A tensor's bytes as text for safetensors metadata ("F32;[64,1,7,7];<base64>"), and back
/// (nullopt when the text is not one).
std::string encodeTensorText(const RawTensor& tensor);
std::optional<RawTensor> decodeTensorText(const std::string& name, const std::string& text);

} // namespace medsiam::core
