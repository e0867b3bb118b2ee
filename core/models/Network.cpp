#include "models/Network.h"

#include "util/Error.h"

#include <ATen/ATen.h>
#include <torch/nn/init.h>

#include <cmath>

namespace medsiam::core {

namespace {

torch::Tensor kaimingFanOut(std::vector<int64_t> shape)
{
    auto w = torch::empty(shape);
    torch::nn::init::kaiming_normal_(w, 0.0, torch::kFanOut, torch::kReLU);
    return w;
}

/// Standardizes each output channel of an OIHW kernel over its fan-in (biased variance).
torch::Tensor standardizeKernel(const torch::Tensor& w, double eps)
{
    // batch_norm over a [1, O, fan-in] view: one fused kernel, the same arithmetic as timm's StdConv2d.
    return at::batch_norm(w.reshape({1, w.size(0), -1}), {}, {}, {}, {}, true, 0.0, eps, false).reshape_as(w);
}

} // namespace

// ---------------------------------------------------------------------------------------------
// Layers

StdConv2dImpl::StdConv2dImpl(int in, int out, int kernel, int stride_, int padding_, bool standardize_, double eps_, bool withGain)
    : standardize(standardize_), eps(eps_), stride(stride_), padding(padding_)
{
    weight = register_parameter("weight", kaimingFanOut({out, in, kernel, kernel}));
    if (withGain)
        wsGain = register_buffer("ws_gain", torch::ones({out}));
}

torch::Tensor StdConv2dImpl::effectiveWeight() const
{
    if (!standardize)
        return weight;
    auto w = standardizeKernel(weight, eps);
    if (wsGain.defined())
        w = w * wsGain.view({-1, 1, 1, 1});
    return w;
}

torch::Tensor StdConv2dImpl::forward(const torch::Tensor& x)
{
    return at::conv2d(x, effectiveWeight(), {}, {stride, stride}, {padding, padding});
}

Norm2dImpl::Norm2dImpl(int channels, bool groupNorm_, int groups_, double eps_, double momentum_)
    : groupNorm(groupNorm_), groups(groups_), eps(eps_), momentum(momentum_)
{
    weight = register_parameter("weight", torch::ones({channels}));
    bias = register_parameter("bias", torch::zeros({channels}));
    if (!groupNorm) {
        runningMean = register_buffer("running_mean", torch::zeros({channels}));
        runningVar = register_buffer("running_var", torch::ones({channels}));
        numBatchesTracked = register_buffer("num_batches_tracked", torch::zeros({}, torch::kLong));
    }
}

torch::Tensor Norm2dImpl::forward(const torch::Tensor& input)
{
    // Under bf16 autocast the convs hand over bf16 activations; normalize them in float32 (as
    // autocast does for norms on the GPU) so the statistics stay accurate and the dtypes match.
    const torch::Tensor x = input.scalar_type() == weight.scalar_type() ? input : input.to(weight.scalar_type());
    if (groupNorm)
        return at::group_norm(x, groups, weight, bias, eps, true);
    if (is_training()) {
        torch::NoGradGuard guard;
        numBatchesTracked.add_(1);
    }
    if (sync && is_training())
        return syncBatchNorm(x, weight, bias, runningMean, runningVar, momentum, eps, *sync);
    return at::batch_norm(x, weight, bias, runningMean, runningVar, is_training(), momentum, eps, true);
}

torch::Tensor adaptStemToGray(const torch::Tensor& kernel3, bool standardized, double eps, torch::Tensor& gain)
{
    torch::NoGradGuard guard;
    if (!standardized) {
        gain = torch::Tensor();
        return kernel3.sum(1, /*keepdim=*/true);
    }
    // conv(replicate(g), std(W)) = conv(g, sum_c std(W)_c) =: conv(g, E). The 1-channel conv keeps
    // standardizing its kernel, so store E and the gain that undoes the re-standardization of E.
    auto e = standardizeKernel(kernel3, eps).sum(1, true);
    auto flat = e.reshape({e.size(0), -1});
    auto var = (flat - flat.mean(1, true)).pow(2).mean(1);
    gain = (var + eps).sqrt();
    return e;
}

// ---------------------------------------------------------------------------------------------
// ResNet-v2 (BiT)

namespace {

struct V2Parts {
    bool standardize;
    bool groupNorm;
    const BackboneConfig* cfg;
    StdConv2d conv(int in, int out, int k, int stride) const
    {
        return StdConv2d(in, out, k, stride, ((stride - 1) + (k - 1)) / 2, standardize, cfg->wsEps);
    }
    Norm2d norm(int c) const
    {
        return Norm2d(c, groupNorm, cfg->gnGroups, groupNorm ? cfg->gnEps : cfg->bnEps, cfg->bnMomentum);
    }
};

class DownsampleImpl : public torch::nn::Module {
public:
    explicit DownsampleImpl(StdConv2d c) : conv(register_module("conv", std::move(c))) {}
    torch::Tensor forward(const torch::Tensor& x) { return conv(x); }
    StdConv2d conv;
};
TORCH_MODULE(Downsample);

/// Pre-activation bottleneck: GN/BN+ReLU before each conv, the stride in the 3x3 conv, and a
/// projection shortcut taken from the pre-activated input.
class PreActBottleneckImpl : public torch::nn::Module {
public:
    PreActBottleneckImpl(int in, int out, int stride, const V2Parts& p)
    {
        const int mid = out / 4;
        norm1 = register_module("norm1", p.norm(in));
        conv1 = register_module("conv1", p.conv(in, mid, 1, 1));
        norm2 = register_module("norm2", p.norm(mid));
        conv2 = register_module("conv2", p.conv(mid, mid, 3, stride));
        norm3 = register_module("norm3", p.norm(mid));
        conv3 = register_module("conv3", p.conv(mid, out, 1, 1));
        if (stride != 1 || in != out)
            downsample = register_module("downsample", Downsample(p.conv(in, out, 1, stride)));
    }
    torch::Tensor forward(const torch::Tensor& x)
    {
        auto pre = at::relu(norm1(x));
        auto shortcut = downsample.is_empty() ? x : downsample(pre);
        auto y = conv1(pre);
        y = conv2(at::relu(norm2(y)));
        y = conv3(at::relu(norm3(y)));
        return y + shortcut;
    }
    Norm2d norm1{nullptr}, norm2{nullptr}, norm3{nullptr};
    StdConv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
    Downsample downsample{nullptr};
};
TORCH_MODULE(PreActBottleneck);

class StageImpl : public torch::nn::Module {
public:
    StageImpl(int in, int out, int units, int stride, const V2Parts& p)
    {
        auto list = torch::nn::ModuleList();
        for (int u = 0; u < units; ++u) {
            blockList.push_back(PreActBottleneck(u == 0 ? in : out, out, u == 0 ? stride : 1, p));
            list->push_back(blockList.back());
        }
        blocks = register_module("blocks", list);
    }
    torch::Tensor forward(torch::Tensor x)
    {
        for (auto& b : blockList)
            x = b(x);
        return x;
    }
    torch::nn::ModuleList blocks{nullptr};
    std::vector<PreActBottleneck> blockList;
};
TORCH_MODULE(Stage);

class StemImpl : public torch::nn::Module {
public:
    StemImpl(StdConv2d c, bool pool) : conv(register_module("conv", std::move(c))), pool(pool) {}
    torch::Tensor forward(const torch::Tensor& x)
    {
        // BiT's fixed stem: 7x7/2 conv, zero pad 1, 3x3/2 max-pool without padding. The CIFAR
        // stem is its 3x3/1 conv alone (pre-activation: the first unit's norm follows).
        if (!pool)
            return conv(x);
        return at::max_pool2d(at::constant_pad_nd(conv(x), {1, 1, 1, 1}, 0), {3, 3}, {2, 2});
    }
    StdConv2d conv;
    bool pool;
};
TORCH_MODULE(Stem);

/// A 1x1-conv classification head (BiT's layout: weight [classes, C, 1, 1]), zero-initialized.
class ConvHeadImpl : public torch::nn::Module {
public:
    ConvHeadImpl(int in, int classes)
    {
        auto fcModule = std::make_shared<torch::nn::Module>();
        weight = fcModule->register_parameter("weight", torch::zeros({classes, in, 1, 1}));
        bias = fcModule->register_parameter("bias", torch::zeros({classes}));
        register_module("fc", fcModule);
    }
    torch::Tensor forward(const torch::Tensor& features) { return at::linear(features, weight.flatten(1), bias); }
    torch::Tensor weight, bias;
};
TORCH_MODULE(ConvHead);

class ResNetV2Impl : public BackboneImpl {
public:
    explicit ResNetV2Impl(const BackboneConfig& cfg) : BackboneImpl(cfg)
    {
        V2Parts p{cfg.norm != BackboneNorm::Bn, cfg.norm == BackboneNorm::GnWs, &m_config};
        const bool gain = p.standardize && cfg.inChannels == 1;
        const bool cifar = cfg.stem == BackboneStem::Cifar;
        stem = register_module("stem", Stem(StdConv2d(cfg.inChannels, cfg.stemChannels, cifar ? 3 : 7, cifar ? 1 : 2, cifar ? 1 : 3,
                                                      p.standardize, cfg.wsEps, gain),
                                            !cifar));
        auto list = torch::nn::ModuleList();
        int in = cfg.stemChannels;
        for (size_t s = 0; s < cfg.layers.size(); ++s) {
            stageList.push_back(Stage(in, cfg.channels[s], cfg.layers[s], s == 0 ? 1 : 2, p));
            list->push_back(stageList.back());
            in = cfg.channels[s];
        }
        stages = register_module("stages", list);
        norm = register_module("norm", p.norm(in));
        if (cfg.numClasses > 0)
            head = register_module("head", ConvHead(in, cfg.numClasses));
    }
    torch::Tensor forwardFeatures(const torch::Tensor& x) override
    {
        auto y = stem(x);
        for (auto& s : stageList)
            y = s(y);
        return at::relu(norm(y)).mean({2, 3});
    }
    std::vector<torch::Tensor> forwardStages(const torch::Tensor& x) override
    {
        std::vector<torch::Tensor> out{stem(x)};
        for (auto& s : stageList)
            out.push_back(s(out.back()));
        return out;
    }
    torch::Tensor forwardHead(const torch::Tensor& f) override
    {
        if (head.is_empty())
            throw UserError("this network has no classification head");
        return head(f);
    }
    std::pair<torch::Tensor, torch::Tensor> finalMapAndLogits(const torch::Tensor& last) override
    {
        auto map = at::relu(norm(last));
        return {map, forwardHead(map.mean({2, 3}))};
    }
    std::string headPrefix() const override { return head.is_empty() ? "" : "head."; }
    std::string stemConvName() const override { return "stem.conv"; }

    Stem stem{nullptr};
    torch::nn::ModuleList stages{nullptr};
    std::vector<Stage> stageList;
    Norm2d norm{nullptr};
    ConvHead head{nullptr};
};

// ---------------------------------------------------------------------------------------------
// ResNet v1 (torchvision layout)

class PlainConvImpl : public torch::nn::Module {
public:
    PlainConvImpl(int in, int out, int k, int stride)
        : stride(stride), padding(k / 2)
    {
        weight = register_parameter("weight", kaimingFanOut({out, in, k, k}));
    }
    torch::Tensor forward(const torch::Tensor& x) { return at::conv2d(x, weight, {}, {stride, stride}, {padding, padding}); }
    torch::Tensor weight;
    int stride, padding;
};
TORCH_MODULE(PlainConv);

class V1BlockImpl : public torch::nn::Module {
public:
    V1BlockImpl(int in, int out, int stride, bool bottleneck, const BackboneConfig& cfg)
    {
        auto bn = [&](int c) { return Norm2d(c, false, 1, cfg.bnEps, cfg.bnMomentum); };
        const int width = bottleneck ? out / 4 : out;
        if (bottleneck) {
            convs = {PlainConv(in, width, 1, 1), PlainConv(width, width, 3, stride), PlainConv(width, out, 1, 1)};
            norms = {bn(width), bn(width), bn(out)};
        } else {
            convs = {PlainConv(in, out, 3, stride), PlainConv(out, out, 3, 1)};
            norms = {bn(out), bn(out)};
        }
        for (size_t i = 0; i < convs.size(); ++i) {
            register_module("conv" + std::to_string(i + 1), convs[i]);
            register_module("bn" + std::to_string(i + 1), norms[i]);
        }
        // As in SimSiam's ResNets (zero_init_residual): each residual branch starts as identity.
        torch::NoGradGuard guard;
        norms.back()->weight.zero_();
        if (stride != 1 || in != out) {
            downConv = PlainConv(in, out, 1, stride);
            downNorm = bn(out);
            auto list = torch::nn::ModuleList();
            list->push_back(downConv);
            list->push_back(downNorm);
            register_module("downsample", list);
        }
    }
    torch::Tensor forward(const torch::Tensor& x)
    {
        auto y = x;
        for (size_t i = 0; i < convs.size(); ++i) {
            y = norms[i](convs[i](y));
            if (i + 1 < convs.size())
                y = at::relu(y);
        }
        auto shortcut = downConv.is_empty() ? x : downNorm(downConv(x));
        return at::relu(y + shortcut);
    }
    std::vector<PlainConv> convs;
    std::vector<Norm2d> norms;
    PlainConv downConv{nullptr};
    Norm2d downNorm{nullptr};
};
TORCH_MODULE(V1Block);

class ResNetV1Impl : public BackboneImpl {
public:
    explicit ResNetV1Impl(const BackboneConfig& cfg) : BackboneImpl(cfg)
    {
        cifarStem = cfg.stem == BackboneStem::Cifar;
        conv1 = register_module("conv1", PlainConv(cfg.inChannels, cfg.stemChannels, cifarStem ? 3 : 7, cifarStem ? 1 : 2));
        bn1 = register_module("bn1", Norm2d(cfg.stemChannels, false, 1, cfg.bnEps, cfg.bnMomentum));
        int in = cfg.stemChannels;
        for (size_t s = 0; s < cfg.layers.size(); ++s) {
            auto list = torch::nn::ModuleList();
            std::vector<V1Block> blocks;
            for (int u = 0; u < cfg.layers[s]; ++u) {
                blocks.push_back(V1Block(u == 0 ? in : cfg.channels[s], cfg.channels[s], u == 0 && s > 0 ? 2 : 1, cfg.bottleneck, cfg));
                list->push_back(blocks.back());
            }
            register_module("layer" + std::to_string(s + 1), list);
            layers.push_back(std::move(blocks));
            in = cfg.channels[s];
        }
        if (cfg.numClasses > 0) {
            auto fcModule = std::make_shared<torch::nn::Module>();
            fcWeight = fcModule->register_parameter("weight", torch::zeros({cfg.numClasses, in}));
            fcBias = fcModule->register_parameter("bias", torch::zeros({cfg.numClasses}));
            register_module("fc", fcModule);
        }
    }
    torch::Tensor stemForward(const torch::Tensor& x)
    {
        auto y = at::relu(bn1(conv1(x)));
        return cifarStem ? y : at::max_pool2d(y, {3, 3}, {2, 2}, {1, 1});
    }
    torch::Tensor forwardFeatures(const torch::Tensor& x) override
    {
        auto y = stemForward(x);
        for (auto& stage : layers)
            for (auto& b : stage)
                y = b(y);
        return y.mean({2, 3});
    }
    std::vector<torch::Tensor> forwardStages(const torch::Tensor& x) override
    {
        std::vector<torch::Tensor> out{stemForward(x)};
        for (auto& stage : layers) {
            auto y = out.back();
            for (auto& b : stage)
                y = b(y);
            out.push_back(y);
        }
        return out;
    }
    torch::Tensor forwardHead(const torch::Tensor& f) override
    {
        if (!fcWeight.defined())
            throw UserError("this network has no classification head");
        return at::linear(f, fcWeight, fcBias);
    }
    std::pair<torch::Tensor, torch::Tensor> finalMapAndLogits(const torch::Tensor& last) override
    {
        return {last, forwardHead(last.mean({2, 3}))};
    }
    std::string headPrefix() const override { return fcWeight.defined() ? "fc." : ""; }
    std::string stemConvName() const override { return "conv1"; }

    PlainConv conv1{nullptr};
    Norm2d bn1{nullptr};
    bool cifarStem = false;
    std::vector<std::vector<V1Block>> layers;
    torch::Tensor fcWeight, fcBias;
};

// ---------------------------------------------------------------------------------------------
// SimSiam heads

class LinearImpl : public torch::nn::Module {
public:
    LinearImpl(int in, int out, bool withBias)
    {
        const double bound = 1.0 / std::sqrt(double(in)); // PyTorch's nn.Linear default
        weight = register_parameter("weight", torch::empty({out, in}).uniform_(-bound, bound));
        if (withBias)
            bias = register_parameter("bias", torch::empty({out}).uniform_(-bound, bound));
    }
    torch::Tensor forward(const torch::Tensor& x) { return at::linear(x, weight, bias); }
    torch::Tensor weight, bias;
};
TORCH_MODULE(Linear);

/// Normalization of [N, C] features: BatchNorm, GroupNorm (32 groups), LayerNorm or nothing.
class Norm1dImpl : public torch::nn::Module {
public:
    Norm1dImpl(int channels, HeadNorm kind_, bool affine, double momentum_ = 0.1) : kind(kind_), momentum(momentum_)
    {
        if (kind == HeadNorm::None)
            return;
        if (affine) {
            weight = register_parameter("weight", torch::ones({channels}));
            bias = register_parameter("bias", torch::zeros({channels}));
        }
        if (kind == HeadNorm::Bn) {
            runningMean = register_buffer("running_mean", torch::zeros({channels}));
            runningVar = register_buffer("running_var", torch::ones({channels}));
            numBatchesTracked = register_buffer("num_batches_tracked", torch::zeros({}, torch::kLong));
        }
    }
    torch::Tensor forward(const torch::Tensor& input)
    {
        const torch::Tensor x = !weight.defined() || input.scalar_type() == weight.scalar_type() ? input : input.to(weight.scalar_type());
        switch (kind) {
        case HeadNorm::Bn:
            if (is_training()) {
                torch::NoGradGuard guard;
                numBatchesTracked.add_(1);
            }
            if (sync && is_training())
                return syncBatchNorm(x, weight, bias, runningMean, runningVar, momentum, 1e-5, *sync);
            return at::batch_norm(x, weight, bias, runningMean, runningVar, is_training(), momentum, 1e-5, true);
        case HeadNorm::Gn: return at::group_norm(x, 32, weight, bias, 1e-5, true);
        case HeadNorm::Ln: return at::layer_norm(x, {x.size(1)}, weight, bias, 1e-5, true);
        case HeadNorm::None: break;
        }
        return x;
    }
    HeadNorm kind;
    double momentum;
    torch::Tensor weight, bias, runningMean, runningVar, numBatchesTracked;
    std::shared_ptr<const BatchStatsSum> sync; ///< set: BatchNorm over the group's batch in training
};
TORCH_MODULE(Norm1d);

class ReluImpl : public torch::nn::Module {
public:
    torch::Tensor forward(const torch::Tensor& x) { return at::relu(x); }
};
TORCH_MODULE(Relu);

torch::Tensor runList(torch::nn::ModuleList& list, torch::Tensor x)
{
    for (const auto& m : *list) {
        if (auto* l = m->as<LinearImpl>())
            x = l->forward(x);
        else if (auto* n = m->as<Norm1dImpl>())
            x = n->forward(x);
        else if (auto* r = m->as<ReluImpl>())
            x = r->forward(x);
    }
    return x;
}

} // namespace

std::shared_ptr<BackboneImpl> makeBackbone(const BackboneConfig& config)
{
    config.validate();
    if (config.arch == BackboneArch::ResNetV2)
        return std::make_shared<ResNetV2Impl>(config);
    return std::make_shared<ResNetV1Impl>(config);
}

NetworkImpl::NetworkImpl(const ModelConfig& config) : m_config(config)
{
    m_backbone = register_module("backbone", makeBackbone(config.backbone));
    if (!config.simsiamHeads)
        return;
    const auto& h = config.heads;
    h.validate();
    const int feat = config.backbone.featureDim();
    const int dim = h.projectorDim;
    // Projector: (Linear, norm, ReLU) x (layers - 1), then Linear and a norm without affine, as in SimSiam.
    m_projector = torch::nn::ModuleList();
    int in = feat;
    for (int l = 0; l < h.projectorLayers - 1; ++l) {
        m_projector->push_back(Linear(in, dim, false));
        m_projector->push_back(Norm1d(dim, h.norm, true));
        m_projector->push_back(Relu());
        in = dim;
    }
    m_projector->push_back(Linear(in, dim, false));
    m_projector->push_back(Norm1d(dim, h.norm, false));
    register_module("projector", m_projector);
    // Predictor: a bottleneck dim -> hidden -> dim.
    m_predictor = torch::nn::ModuleList();
    m_predictor->push_back(Linear(dim, h.predictorHidden, false));
    m_predictor->push_back(Norm1d(h.predictorHidden, h.norm, true));
    m_predictor->push_back(Relu());
    m_predictor->push_back(Linear(h.predictorHidden, dim, true));
    register_module("predictor", m_predictor);
}

torch::Tensor NetworkImpl::project(const torch::Tensor& features)
{
    if (!hasSimSiamHeads())
        throw UserError("this network has no SimSiam heads");
    return runList(m_projector, features);
}

torch::Tensor NetworkImpl::predict(const torch::Tensor& z)
{
    if (!hasSimSiamHeads())
        throw UserError("this network has no SimSiam heads");
    return runList(m_predictor, z);
}

SimSiamOutput NetworkImpl::simsiam(const torch::Tensor& x1, const torch::Tensor& x2)
{
    SimSiamOutput out;
    // Without BatchNorm (GroupNorm + WS backbones, GN/LN/no head norm) nothing mixes samples, so
    // both views go through one forward pass: larger kernels, and each weight standardized once
    // per step instead of once per view. BatchNorm keeps one pass per view, each with its own
    // statistics, as SimSiam has it.
    const bool batchStatistics = !m_config.backbone.groupNorm() || m_config.heads.norm == HeadNorm::Bn;
    if (!batchStatistics && x1.sizes() == x2.sizes()) {
        const int64_t n = x1.size(0);
        const auto z = project(m_backbone->forwardFeatures(torch::cat({x1, x2}, 0)));
        const auto p = predict(z);
        out.z1 = z.narrow(0, 0, n);
        out.z2 = z.narrow(0, n, n);
        out.p1 = p.narrow(0, 0, n);
        out.p2 = p.narrow(0, n, n);
        return out;
    }
    out.z1 = project(m_backbone->forwardFeatures(x1));
    out.z2 = project(m_backbone->forwardFeatures(x2));
    out.p1 = predict(out.z1);
    out.p2 = predict(out.z2);
    return out;
}

torch::Tensor NetworkImpl::classify(const torch::Tensor& x) { return m_backbone->forward(x); }

int NetworkImpl::synchroniseBatchNorm(std::shared_ptr<const BatchStatsSum> group)
{
    int layers = 0;
    for (const auto& m : modules(/*include_self=*/false)) {
        if (auto* n2 = m->as<Norm2dImpl>(); n2 && !n2->isGroupNorm()) {
            n2->sync = group;
            ++layers;
        } else if (auto* n1 = m->as<Norm1dImpl>(); n1 && n1->kind == HeadNorm::Bn) {
            n1->sync = group;
            ++layers;
        }
    }
    return layers;
}

int64_t parameterCount(const torch::nn::Module& module, const std::string& prefix)
{
    int64_t n = 0;
    for (const auto& p : module.named_parameters(true))
        if (prefix.empty() || p.key().compare(0, prefix.size(), prefix) == 0)
            n += p.value().numel();
    return n;
}

} // namespace medsiam::core
