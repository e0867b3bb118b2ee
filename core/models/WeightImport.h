#pragma once
// Loading published weights into a backbone: the official BiT .npz (HWIO kernels, BiT names),
// timm / torchvision state dicts in safetensors or torch.save files, and medsiam checkpoints.
// Every mismatch is reported by the key and layout of the file, e.g.
// "resnet/block1/unit02/b/standardized_conv2d/kernel: expected [3,3,64,64], found [3,3,32,32]".
#include "io/TensorFile.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace medsiam::core {

class BackboneImpl;

struct WeightImportOptions {
    /// Leave the classification head at its zero start when the file's head is missing or has
    /// another number of classes. Off by default: a head that does not fit is an error.
    bool skipHead = false;
};

struct WeightImportReport {
    std::string naming;                ///< "BiT", "timm/torchvision" or "medsiam"
    int loaded = 0;                    ///< model tensors filled from the file
    int modelTensors = 0;              ///< parameters and buffers of the model
    std::vector<std::string> notes;    ///< adaptations and deliberate drops, for the user
    std::vector<std::string> problems; ///< missing keys, wrong shapes, unused tensors
    bool matches() const { return problems.empty(); }
    /// The problems as one message (at most `limit` lines).
    std::string problemText(size_t limit = 12) const;
};

/// Checks `file` against `backbone` and, when `apply` is true and nothing is wrong, copies the
/// weights in. Never throws for a mismatch: the report lists it.
WeightImportReport importBackboneWeights(BackboneImpl& backbone, const TensorFile& file,
                                         const WeightImportOptions& options, bool apply);

/// Reads `path` and loads it into `backbone`; throws UserError naming the file and every problem.
WeightImportReport loadBackboneWeights(BackboneImpl& backbone, const std::string& path,
                                       const WeightImportOptions& options = {});

/// timm's ResNet-v2 name -> the official BiT .npz key ("stages.0.blocks.0.conv2.weight" ->
/// "resnet/block1/unit01/b/standardized_conv2d/kernel"); `hwio` says the BiT kernel is HWIO.
/// Empty when BiT files have no such tensor.
std::string bitKeyForTimmName(const std::string& name, bool& hwio);

/// The keys and shapes the backbone expects from an official BiT .npz (HWIO kernels).
std::vector<std::pair<std::string, std::vector<int64_t>>> expectedBitLayout(BackboneImpl& backbone);

} // namespace medsiam::core
