#include "analysis/GradCam.h"

#include "project/RunStore.h"

#include "data/Augment.h"
#include "image/Png.h"
#include "models/Checkpoint.h"
#include "project/Project.h"
#include "train/Features.h"
#include "train/FinetuneJob.h"
#include "util/Error.h"

#include <ATen/ATen.h>
#include <stdexcept>
#include <torch/csrc/autograd/autograd.h>

namespace medsiam::core {

at::Tensor upsampleCam(const at::Tensor& cam, int stride, int64_t height, int64_t width)
{
    if (cam.dim() != 4 || stride < 1)
        throw std::invalid_argument("upsampleCam: expects a [N, C, h, w] map and a positive stride");
    const int64_t rows = cam.size(2), cols = cam.size(3);
    // align_corners=true over (cells - 1) * stride + 1 pixels puts cell i exactly on pixel stride * i.
    auto up = at::upsample_bilinear2d(cam, {(rows - 1) * stride + 1, (cols - 1) * stride + 1}, true);
    const int64_t padRows = std::max<int64_t>(0, height - up.size(2)), padCols = std::max<int64_t>(0, width - up.size(3));
    if (padRows > 0 || padCols > 0)
        up = at::replication_pad2d(up, {0, padCols, 0, padRows});
    return up.slice(2, 0, height).slice(3, 0, width);
}

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
    // The stems reduce by 4 and each later stage by 2 (the first stage keeps the stems' scale).
    const int stride = 4 << ((stage == 0 ? stages : stage) - 1);
    cam = upsampleCam(cam, stride, input.size(2), input.size(3)).squeeze();
    const double peak = cam.max().item<double>();
    r.heatmap = (peak > 0 ? cam / peak : cam).to(at::kFloat).contiguous();
    network.train(wasTraining);
    return r;
}

namespace {

/// The run's checkpoint, after checking that the run is a fine-tuned classifier.
std::string classifierCheckpoint(Project& project, const std::string& runId)
{
    RunStore store(project);
    if (const auto r = store.find(runId); r && r->kind != "finetune")
        throw UserError("Grad-CAM explains a classifier, and run '" + runId + "' is a " + r->kind +
                        " run; choose a fine-tuned (finetune) run");
    return store.selectedCheckpoint(runId);
}

} // namespace

RunExplainer::RunExplainer(Project& project, const std::string& runId) : RunExplainer(project, runId, project) {}

RunExplainer::RunExplainer(Project& project, const std::string& runId, Project& images)
    : m_net(loadNetwork(classifierCheckpoint(project, runId))), m_data(std::make_unique<ImageSet>(images)),
      m_size(evaluationSize(project, runId))
{
    if (m_net->backbone().config().numClasses < 1)
        throw UserError("Grad-CAM needs a classifier (a fine-tuned run); run '" + runId + "' has no classification head");
}

RunExplainer::~RunExplainer() = default;

int RunExplainer::autoStage() const
{
    const int stages = static_cast<int>(m_net->config().backbone.layers.size());
    if (m_size / (4 << (stages - 1)) >= 4)
        return 0;
    for (int s = stages - 1; s >= 1; --s)
        if (m_size / (4 << (s - 1)) >= 4)
            return s;
    return 1;
}

RunExplainer::Explanation RunExplainer::explain(int64_t imageId, int classIndex, int stage)
{
    const int64_t index = m_data->cache().indexOf(imageId);
    if (index < 0)
        throw UserError("image " + std::to_string(imageId) + " is not in the project's cache");
    const auto& cfg = m_net->config().backbone;
    const auto input = makeBatch(m_data->cache(), {index}, m_size, cfg.inChannels, AugmentConfig::none(), inputNormalizationFor(cfg), 0, 0, 0);
    Explanation e;
    e.stage = stage < 0 ? autoStage() : stage;
    e.cam = gradCam(*m_net, input, classIndex, e.stage);
    e.size = m_size;
    const int stages = static_cast<int>(cfg.layers.size());
    e.cells = (m_size + (4 << ((e.stage == 0 ? stages : e.stage) - 1)) - 1) / (4 << ((e.stage == 0 ? stages : e.stage) - 1));
    e.base = resizeImage(m_data->cache().image(static_cast<size_t>(index)), m_size, m_size);
    const std::vector<float> heat(e.cam.heatmap.data_ptr<float>(), e.cam.heatmap.data_ptr<float>() + e.cam.heatmap.numel());
    e.overlay = heatmapOverlay(e.base, heat);
    return e;
}

} // namespace medsiam::core
