#include "analysis/GradCam.h"

#include "util/Error.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>

namespace medsiam::core {

GradCamResult gradCam(NetworkImpl& network, const at::Tensor& input, int classIndex, int stage)
{
    auto& backbone = network.backbone();
    const int classes = backbone.config().numClasses;
    if (classes < 1)
        throw UserError("Grad-CAM needs a classifier (a fine-tuned run); this network has no classification head");
    if (input.dim() != 4 || input.size(0) != 1)
        throw UserError("Grad-CAM takes one image at a time");
    const int stages = static_cast<int>(backbone.config().layers.size());
    if (stage < 0 || stage > stages)
        throw UserError("Grad-CAM stage must be 0 (final) or 1.." + std::to_string(stages));
    const bool wasTraining = network.is_training();
    network.eval();
    at::AutoGradMode enable(true);
    auto outs = backbone.forwardStages(input);
    auto [finalMap, logits] = backbone.finalMapAndLogits(outs.back());
    at::Tensor target = stage == 0 ? finalMap : outs[static_cast<size_t>(stage)];
    const auto probs = at::softmax(logits.detach().to(at::kFloat), 1).contiguous();
    GradCamResult r;
    r.probabilities.assign(probs.data_ptr<float>(), probs.data_ptr<float>() + classes);
    r.classIndex = classIndex >= 0 ? classIndex : static_cast<int>(probs.argmax(1).item<int64_t>());
    if (r.classIndex >= classes)
        throw UserError("class " + std::to_string(r.classIndex) + " is out of range (" + std::to_string(classes) + " classes)");
    const auto grads = torch::autograd::grad({logits.select(1, r.classIndex).sum()}, {target});
    const auto weights = grads[0].mean({2, 3}, true);
    auto cam = at::relu((weights * target).sum(1, true)).detach();
    cam = at::upsample_bilinear2d(cam, {input.size(2), input.size(3)}, false).squeeze();
    const double peak = cam.max().item<double>();
    r.heatmap = (peak > 0 ? cam / peak : cam).to(at::kFloat).contiguous();
    network.train(wasTraining);
    return r;
}

} // namespace medsiam::core
