#pragma once
// Grad-CAM (Selvaraju et al., 2017) for a classifier: which parts of an image drove a class score.
#include "image/Image8.h"
#include "models/Network.h"

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

namespace medsiam::core {

struct GradCamResult {
    at::Tensor heatmap;  ///< H x W float in [0, 1], the input's size
    int classIndex = 0;  ///< the class explained
    std::vector<float> probabilities;
};

/// Spreads a class-activation map [1, 1, h, w] of a stage with total stride `stride` over an
/// image of `height` x `width` pixels. Cell (i, j) of such a map is centred on pixel
/// (stride * i, stride * j): every stride-2 layer here (convolutions padded to their centre, the
/// stems' pooling) maps output i to input 2i. The map is interpolated bilinearly between those
/// centres and held constant beyond the last ones. (Resizing the map as an image would shift the
/// heat by (stride - 1) / 2 pixels down and right: 15.5 px for a final ResNet map.)
at::Tensor upsampleCam(const at::Tensor& cam, int stride, int64_t height, int64_t width);

/// Grad-CAM of `classIndex` (-1: the predicted class) for one input [1, C, H, W]. `stage` picks
/// the activation map: 0 for the final one (after the last stage and, on ResNet-v2, its final
/// norm), 1 .. stages for a stage's output (finer maps from earlier stages). Eval mode.
GradCamResult gradCam(NetworkImpl& network, const at::Tensor& input, int classIndex = -1, int stage = 0);

class ImageSet;
class Project;

/// Grad-CAM of a project's images under a fine-tuned run: the run's last checkpoint and the
/// project's cache are loaded once, then any image can be explained. One thread at a time.
class RunExplainer {
public:
    /// Throws UserError when the run has no checkpoint or its network has no classifier.
    RunExplainer(Project& project, const std::string& runId);
    /// Explains the images of another project (one made to classify new folders) under a run of
    /// `project`.
    RunExplainer(Project& project, const std::string& runId, Project& images);
    ~RunExplainer();

    struct Explanation {
        GradCamResult cam;
        Image8 base;    ///< the network's input as an image (size x size)
        Image8 overlay; ///< the heatmap over it
        int size = 0;
        int stage = 0;  ///< the map used (0: final)
        int cells = 0;  ///< its side in cells
    };
    /// Explains an image (by id) for a class (-1: the predicted one) at a stage (0: final; -1:
    /// autoStage()). Throws UserError for an image that is not in the cache.
    Explanation explain(int64_t imageId, int classIndex = -1, int stage = 0);
    int inputSize() const { return m_size; }
    /// The deepest map with at least 4 x 4 cells at the run's input size: the final one at
    /// 224 px (7 x 7 on a ResNet), stage 2 at 32 px (4 x 4; the final map there is a single cell,
    /// which would paint the whole image alike).
    int autoStage() const;

private:
    Network m_net;
    std::unique_ptr<ImageSet> m_data;
    int m_size = 0;
};

} // namespace medsiam::core
