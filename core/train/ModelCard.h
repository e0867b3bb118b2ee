#pragma once
// The model card that goes with an exported classifier or backbone: what it was trained on
// (counts per class and split, no patient identifiers), how, how well the selected checkpoint
// did, when, and what it is for. No LibTorch.
#include <string>

namespace medsiam::core {

class Project;

struct ModelCardInfo {
    std::string weightsFile;   ///< the exported file's name
    std::string format;        ///< "timm" or "bit-npz"
    std::string architecture;  ///< e.g. "bit-r50x1 (ResNet-v2, gn_ws), 1 input channel, 2 classes"
    std::string input;         ///< the input size and scaling, in words
    std::string loadHint;      ///< how Python loads it (one line)
    std::string notes;         ///< what the export changed, one per line
    std::string date;          ///< ISO date; empty: today (UTC)
};

/// The card as Markdown, for run `runId` of `project`.
std::string modelCard(Project& project, const std::string& runId, const ModelCardInfo& info);

} // namespace medsiam::core
