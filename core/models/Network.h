#pragma once
// The networks: BiT ResNet-v2 (GroupNorm + weight standardization, or the BatchNorm variants),
// the classic ResNet v1, SimSiam's projector and predictor, and the classification head.
//
// Parameter names follow timm for ResNet-v2 ("stem.conv.weight", "stages.0.blocks.0.norm1.weight",
// "head.fc.weight") and torchvision for ResNet v1 ("conv1.weight", "layer1.0.bn1.weight", "fc.weight"),
// so that weights published for those libraries load by name. Part of medsiam_ml (needs LibTorch).
#include "models/ModelConfig.h"
#include "models/SyncBatchNorm.h"

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include <memory>
#include <string>
#include <vector>

namespace medsiam::core {

/// Convolution without bias whose kernel is optionally standardized on every forward pass
/// (zero mean, unit variance over each output channel's fan-in, as in BiT). A 1-channel stem
/// adapted from 3-channel weights carries a fixed per-channel gain ("ws_gain") so that it
/// reproduces the 3-channel network exactly; see docs/MODELS.md.
class StdConv2dImpl : public torch::nn::Module {
public:
    StdConv2dImpl(int in, int out, int kernel, int stride, int padding, bool standardize, double eps, bool withGain = false);
    torch::Tensor forward(const torch::Tensor& x);
    /// The kernel the convolution actually uses (standardized, times the gain).
    torch::Tensor effectiveWeight() const;
    torch::Tensor weight;
    torch::Tensor wsGain; ///< undefined unless withGain
    bool standardize;
    double eps;
    int stride, padding;
};
TORCH_MODULE(StdConv2d);

/// GroupNorm or BatchNorm over channels of NCHW tensors, with parameter names matching PyTorch's
/// (weight, bias, running_mean, running_var, num_batches_tracked).
class Norm2dImpl : public torch::nn::Module {
public:
    Norm2dImpl(int channels, bool groupNorm, int groups, double eps, double momentum);
    torch::Tensor forward(const torch::Tensor& x);
    bool isGroupNorm() const { return groupNorm; }
    torch::Tensor weight, bias, runningMean, runningVar, numBatchesTracked;
    std::shared_ptr<const BatchStatsSum> sync; ///< set: BatchNorm over the group's batch in training
    bool groupNorm;
    int groups;
    double eps, momentum;
};
TORCH_MODULE(Norm2d);

/// A backbone: image batch in, pooled features out, plus an optional classification head.
class BackboneImpl : public torch::nn::Module {
public:
    explicit BackboneImpl(BackboneConfig config) : m_config(std::move(config)) {}
    /// [N, C, H, W] -> [N, featureDim] after the final norm and global average pooling.
    virtual torch::Tensor forwardFeatures(const torch::Tensor& x) = 0;
    /// [N, featureDim] -> [N, numClasses]. Requires numClasses > 0.
    virtual torch::Tensor forwardHead(const torch::Tensor& features) = 0;
    /// Intermediate outputs: the stem, then each stage (for the layer table).
    virtual std::vector<torch::Tensor> forwardStages(const torch::Tensor& x) = 0;
    /// From the last stage's output: the final activation map (after the final norm and ReLU on
    /// ResNet-v2) and the logits. For Grad-CAM.
    virtual std::pair<torch::Tensor, torch::Tensor> finalMapAndLogits(const torch::Tensor& lastStage) = 0;
    torch::Tensor forward(const torch::Tensor& x) { return forwardHead(forwardFeatures(x)); }
    /// Prefix of the classification head's parameters ("head." or "fc."); empty without a head.
    virtual std::string headPrefix() const = 0;
    /// Module path of the stem convolution ("stem.conv" or "conv1").
    virtual std::string stemConvName() const = 0;
    const BackboneConfig& config() const { return m_config; }

protected:
    BackboneConfig m_config;
};

std::shared_ptr<BackboneImpl> makeBackbone(const BackboneConfig& config);

/// SimSiam's heads: the projector (2 or 3 linear layers) and the bottleneck predictor.
struct SimSiamOutput {
    torch::Tensor z1, z2; ///< projections (the stop-gradient targets)
    torch::Tensor p1, p2; ///< predictions
};

/// The whole trainable network: "backbone." plus, with SimSiam heads, "projector." and "predictor.".
class NetworkImpl : public torch::nn::Module {
public:
    explicit NetworkImpl(const ModelConfig& config);
    const ModelConfig& config() const { return m_config; }
    BackboneImpl& backbone() { return *m_backbone; }
    std::shared_ptr<BackboneImpl> backbonePtr() { return m_backbone; }
    bool hasSimSiamHeads() const { return !m_projector.is_empty(); }
    torch::Tensor project(const torch::Tensor& features);
    torch::Tensor predict(const torch::Tensor& z);
    SimSiamOutput simsiam(const torch::Tensor& x1, const torch::Tensor& x2);
    /// Backbone features -> logits (requires a classification head).
    torch::Tensor classify(const torch::Tensor& x);
    /// Data-parallel training: every BatchNorm layer (backbone and heads) normalizes over the
    /// group's batch while training (synchronised BatchNorm); null: over its own input again.
    /// Returns how many layers it applies to (0 for GroupNorm/LayerNorm networks).
    int synchroniseBatchNorm(std::shared_ptr<const BatchStatsSum> group);

private:
    ModelConfig m_config;
    std::shared_ptr<BackboneImpl> m_backbone;
    torch::nn::ModuleList m_projector{nullptr}, m_predictor{nullptr};
};
TORCH_MODULE(Network);

/// Parameter counts for the CLI's layer table and the docs.
int64_t parameterCount(const torch::nn::Module& module, const std::string& prefix = "");

/// Converts the pixel convention: the stem of a 1-channel network from 3-channel kernels, by
/// summing over the input-channel axis (exact for plain convs; for standardized convs the
/// standardized kernels are summed and the gain keeps the result exact). `kernel3` is OIHW.
/// Returns the 1-channel kernel and sets `gain` (undefined for plain convs).
torch::Tensor adaptStemToGray(const torch::Tensor& kernel3, bool standardized, double eps, torch::Tensor& gain);

} // namespace medsiam::core
