#pragma once
// Grad-CAM (Selvaraju et al., 2017) for a classifier: which parts of an image drove a class score.
#include "models/Network.h"

#include <ATen/core/Tensor.h>

namespace medsiam::core {

struct GradCamResult {
    at::Tensor heatmap;  ///< H x W float in [0, 1], the input's size
    int classIndex = 0;  ///< the class explained
    std::vector<float> probabilities;
};

/// Grad-CAM of `classIndex` (-1: the predicted class) for one input [1, C, H, W]. `stage` picks
/// the activation map: 0 for the final one (after the last stage and, on ResNet-v2, its final
/// norm), 1 .. stages for a stage's output (finer maps from earlier stages). Eval mode.
GradCamResult gradCam(NetworkImpl& network, const at::Tensor& input, int classIndex = -1, int stage = 0);

} // namespace medsiam::core
