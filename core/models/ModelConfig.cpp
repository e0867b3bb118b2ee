#include "models/ModelConfig.h"

#include "util/Error.h"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace medsiam::core {

const char* toString(BackboneArch arch) { return arch == BackboneArch::ResNetV2 ? "resnet_v2" : "resnet_v1"; }

const char* toString(BackboneNorm norm)
{
    switch (norm) {
    case BackboneNorm::GnWs: return "gn_ws";
    case BackboneNorm::BnWs: return "bn_ws";
    case BackboneNorm::Bn: return "bn";
    }
    return "?";
}

const char* toString(HeadNorm norm)
{
    switch (norm) {
    case HeadNorm::Bn: return "bn";
    case HeadNorm::Gn: return "gn";
    case HeadNorm::Ln: return "ln";
    case HeadNorm::None: return "none";
    }
    return "?";
}

const char* toString(BackboneStem stem) { return stem == BackboneStem::Cifar ? "cifar" : "imagenet"; }

BackboneStem parseBackboneStem(const std::string& text)
{
    for (auto s : {BackboneStem::ImageNet, BackboneStem::Cifar})
        if (text == toString(s))
            return s;
    throw UserError("unknown stem '" + text + "': use imagenet (7x7 stride-2 conv and max-pool, for images of 64 px and more) "
                    "or cifar (3x3 stride-1 conv, no pooling, for small images)");
}

BackboneNorm parseBackboneNorm(const std::string& text)
{
    for (auto n : {BackboneNorm::GnWs, BackboneNorm::BnWs, BackboneNorm::Bn})
        if (text == toString(n))
            return n;
    throw UserError("unknown backbone normalization '" + text + "': use gn_ws (BiT), bn_ws (BatchNorm with "
                    "standardized convs) or bn (plain BatchNorm)");
}

HeadNorm parseHeadNorm(const std::string& text)
{
    for (auto n : {HeadNorm::Bn, HeadNorm::Gn, HeadNorm::Ln, HeadNorm::None})
        if (text == toString(n))
            return n;
    throw UserError("unknown head normalization '" + text + "': use bn, gn, ln or none");
}

int BackboneConfig::featureDim() const { return channels.empty() ? 0 : channels.back(); }

void BackboneConfig::validate() const
{
    const std::string what = "backbone '" + name + "': ";
    if (layers.empty() || layers.size() != channels.size())
        throw UserError(what + "needs as many stage channel counts as stages (" + std::to_string(layers.size()) +
                        " stages, " + std::to_string(channels.size()) + " channel counts)");
    for (int n : layers)
        if (n < 1)
            throw UserError(what + "every stage needs at least one unit");
    if (inChannels != 1 && inChannels != 3)
        throw UserError(what + "input channels must be 1 (grayscale) or 3, not " + std::to_string(inChannels));
    if (numClasses < 0)
        throw UserError(what + "the number of classes cannot be negative");
    if (stemChannels < 1)
        throw UserError(what + "stem channels must be positive");
    const bool bottleneckBlocks = arch == BackboneArch::ResNetV2 || bottleneck;
    for (int c : channels)
        if (c < 1 || (bottleneckBlocks && c % 4))
            throw UserError(what + "stage channels must be positive" +
                            std::string(bottleneckBlocks ? " multiples of 4 (bottleneck width = channels / 4)" : ""));
    if (groupNorm()) {
        auto check = [&](int c) {
            if (c % gnGroups)
                throw UserError(what + std::to_string(c) + " channels cannot be split into " + std::to_string(gnGroups) +
                                " GroupNorm groups");
        };
        check(stemChannels);
        for (int c : channels) {
            check(c);
            check(c / 4);
        }
    }
    if (wsEps <= 0 || gnEps <= 0 || bnEps <= 0)
        throw UserError(what + "normalization eps values must be positive");
}

int64_t BackboneConfig::parameterCount(bool withHead) const
{
    int64_t n = int64_t(inChannels) * stemChannels * (stem == BackboneStem::Cifar ? 9 : 49);
    int64_t in = stemChannels;
    if (arch == BackboneArch::ResNetV1)
        n += 2 * in; // bn1
    for (size_t s = 0; s < layers.size(); ++s) {
        const int64_t out = channels[s];
        for (int u = 0; u < layers[s]; ++u) {
            const bool down = u == 0 && (s > 0 || in != out);
            if (arch == BackboneArch::ResNetV2) {
                const int64_t mid = out / 4;
                n += 2 * in + in * mid + 2 * mid + 9 * mid * mid + 2 * mid + mid * out;
                if (down)
                    n += in * out;
            } else if (bottleneck) {
                const int64_t w = out / 4;
                n += in * w + 2 * w + 9 * w * w + 2 * w + w * out + 2 * out;
                if (down)
                    n += in * out + 2 * out;
            } else {
                n += 9 * in * out + 2 * out + 9 * out * out + 2 * out;
                if (down)
                    n += in * out + 2 * out;
            }
            in = out;
        }
    }
    if (arch == BackboneArch::ResNetV2)
        n += 2 * in; // final norm
    if (withHead && numClasses > 0)
        n += in * numClasses + numClasses;
    return n;
}

std::vector<int> BackboneConfig::featureMapSizes(int inputSize) const
{
    auto down = [](int s) { return (s - 1) / 2 + 1; }; // 7x7/2 pad 3, 3x3/2 pad 1, 1x1/2 pad 0
    // The ImageNet stem: conv, then the 3x3/2 pool; the CIFAR stem keeps the size.
    std::vector<int> out{stem == BackboneStem::Cifar ? inputSize : down(down(inputSize))};
    for (size_t s = 0; s < layers.size(); ++s)
        out.push_back(s == 0 ? out.back() : down(out.back()));
    return out;
}

void SimSiamHeadConfig::validate() const
{
    if (projectorLayers != 2 && projectorLayers != 3)
        throw UserError("the SimSiam projector has 2 or 3 layers, not " + std::to_string(projectorLayers));
    if (projectorDim < 2 || predictorHidden < 1)
        throw UserError("SimSiam head dimensions must be positive");
    if (norm == HeadNorm::Gn && (projectorDim % 32 || predictorHidden % 32))
        throw UserError("GroupNorm heads need dimensions divisible by 32 (projector " + std::to_string(projectorDim) +
                        ", predictor " + std::to_string(predictorHidden) + ")");
}

// ---------------------------------------------------------------------------------------------

std::string ModelConfig::toJson() const
{
    const auto& b = backbone;
    nlohmann::ordered_json j;
    j["format"] = "medsiam-model";
    j["version"] = 1;
    j["backbone"] = {{"name", b.name},
                     {"arch", toString(b.arch)},
                     {"layers", b.layers},
                     {"channels", b.channels},
                     {"bottleneck", b.bottleneck},
                     {"stem_channels", b.stemChannels},
                     {"stem", toString(b.stem)},
                     {"norm", toString(b.norm)},
                     {"gn_groups", b.gnGroups},
                     {"gn_eps", b.gnEps},
                     {"ws_eps", b.wsEps},
                     {"bn_eps", b.bnEps},
                     {"bn_momentum", b.bnMomentum},
                     {"in_channels", b.inChannels},
                     {"num_classes", b.numClasses}};
    j["simsiam_heads"] = simsiamHeads;
    j["heads"] = {{"projector_layers", heads.projectorLayers},
                  {"projector_dim", heads.projectorDim},
                  {"predictor_hidden", heads.predictorHidden},
                  {"norm", toString(heads.norm)}};
    return j.dump(1);
}

ModelConfig ModelConfig::fromJson(const std::string& text)
{
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text);
    } catch (const std::exception& e) {
        throw UserError(std::string("model configuration is not valid JSON: ") + e.what());
    }
    ModelConfig c;
    auto field = [&](const nlohmann::json& obj, const char* section, const char* key, auto& out) {
        if (!obj.contains(key))
            return;
        try {
            obj.at(key).get_to(out);
        } catch (const std::exception&) {
            throw UserError(std::string("model configuration: ") + section + "." + key + " has the wrong type (" +
                            obj.at(key).dump() + ")");
        }
    };
    if (!j.is_object() || !j.contains("backbone") || !j["backbone"].is_object())
        throw UserError("model configuration has no 'backbone' section");
    const auto& b = j["backbone"];
    std::string arch = toString(c.backbone.arch), norm = toString(c.backbone.norm), stem = toString(c.backbone.stem);
    field(b, "backbone", "name", c.backbone.name);
    field(b, "backbone", "arch", arch);
    field(b, "backbone", "layers", c.backbone.layers);
    field(b, "backbone", "channels", c.backbone.channels);
    field(b, "backbone", "bottleneck", c.backbone.bottleneck);
    field(b, "backbone", "stem_channels", c.backbone.stemChannels);
    field(b, "backbone", "norm", norm);
    field(b, "backbone", "stem", stem);
    field(b, "backbone", "gn_groups", c.backbone.gnGroups);
    field(b, "backbone", "gn_eps", c.backbone.gnEps);
    field(b, "backbone", "ws_eps", c.backbone.wsEps);
    field(b, "backbone", "bn_eps", c.backbone.bnEps);
    field(b, "backbone", "bn_momentum", c.backbone.bnMomentum);
    field(b, "backbone", "in_channels", c.backbone.inChannels);
    field(b, "backbone", "num_classes", c.backbone.numClasses);
    if (arch == "resnet_v2")
        c.backbone.arch = BackboneArch::ResNetV2;
    else if (arch == "resnet_v1")
        c.backbone.arch = BackboneArch::ResNetV1;
    else
        throw UserError("model configuration: unknown backbone.arch '" + arch + "' (resnet_v2 or resnet_v1)");
    c.backbone.norm = parseBackboneNorm(norm);
    c.backbone.stem = parseBackboneStem(stem);
    field(j, "model", "simsiam_heads", c.simsiamHeads);
    if (j.contains("heads") && j["heads"].is_object()) {
        const auto& h = j["heads"];
        std::string hn = toString(c.heads.norm);
        field(h, "heads", "projector_layers", c.heads.projectorLayers);
        field(h, "heads", "projector_dim", c.heads.projectorDim);
        field(h, "heads", "predictor_hidden", c.heads.predictorHidden);
        field(h, "heads", "norm", hn);
        c.heads.norm = parseHeadNorm(hn);
    }
    c.backbone.validate();
    if (c.simsiamHeads)
        c.heads.validate();
    return c;
}

// ---------------------------------------------------------------------------------------------

namespace {

BackboneConfig bit(const std::string& name, std::vector<int> layers, int width)
{
    BackboneConfig c;
    c.name = name;
    c.layers = std::move(layers);
    c.channels = {256 * width, 512 * width, 1024 * width, 2048 * width};
    c.stemChannels = 64 * width;
    return c;
}

BackboneConfig small(const std::string& name, std::vector<int> layers, std::vector<int> channels, int stem, int groups)
{
    BackboneConfig c;
    c.name = name;
    c.layers = std::move(layers);
    c.channels = std::move(channels);
    c.stemChannels = stem;
    c.gnGroups = groups;
    return c;
}

BackboneConfig classic(const std::string& name, std::vector<int> layers, bool bottleneck, std::vector<int> channels, int stem)
{
    BackboneConfig c;
    c.name = name;
    c.arch = BackboneArch::ResNetV1;
    c.layers = std::move(layers);
    c.bottleneck = bottleneck;
    c.channels = std::move(channels);
    c.stemChannels = stem;
    c.norm = BackboneNorm::Bn;
    return c;
}

struct DepthLayers {
    int depth;
    std::vector<int> layers;
};
const DepthLayers kBitDepths[] = {{26, {2, 2, 2, 2}}, {50, {3, 4, 6, 3}}, {101, {3, 4, 23, 3}}, {152, {3, 8, 36, 3}}};

} // namespace

std::vector<BackbonePreset> backbonePresets()
{
    std::vector<BackbonePreset> out;
    for (const auto& d : kBitDepths)
        for (int w = 1; w <= 4; ++w)
            out.push_back({"bit-r" + std::to_string(d.depth) + "x" + std::to_string(w),
                           "BiT ResNet-v2 " + std::to_string(d.depth) + " layers, width x" + std::to_string(w) +
                               (d.depth == 50 && w == 1 ? " (BiT-M-R50x1 / BiT-S-R50x1 weights)" : "")});
    out.push_back({"bit-nano", "small ResNet-v2 for tests and quick CPU runs: 4 units, 64-128 channels"});
    out.push_back({"bit-tiny", "small ResNet-v2 for CPU runs: 4 units, 128-256 channels (the bit_tiny fixture)"});
    out.push_back({"bit-small", "small ResNet-v2 for CPU runs: 8 units, 128-512 channels"});
    out.push_back({"resnet18", "classic ResNet-18 (v1, BatchNorm), as in the SimSiam paper"});
    out.push_back({"resnet50", "classic ResNet-50 (v1, BatchNorm), as in the SimSiam paper"});
    out.push_back({"resnet-nano", "small classic ResNet (v1, BatchNorm) for tests: 4 basic blocks, 16-128 channels"});
    return out;
}

BackboneConfig backbonePreset(const std::string& name)
{
    for (const auto& d : kBitDepths)
        for (int w = 1; w <= 4; ++w)
            if (name == "bit-r" + std::to_string(d.depth) + "x" + std::to_string(w))
                return bit(name, d.layers, w);
    if (name == "bit-nano")
        return small(name, {1, 1, 1, 1}, {64, 64, 128, 128}, 16, 8);
    if (name == "bit-tiny")
        return small(name, {1, 1, 1, 1}, {128, 128, 256, 256}, 32, 32);
    if (name == "bit-small")
        return small(name, {2, 2, 2, 2}, {128, 256, 512, 512}, 32, 32);
    if (name == "resnet18")
        return classic(name, {2, 2, 2, 2}, false, {64, 128, 256, 512}, 64);
    if (name == "resnet50")
        return classic(name, {3, 4, 6, 3}, true, {256, 512, 1024, 2048}, 64);
    if (name == "resnet-nano")
        return classic(name, {1, 1, 1, 1}, false, {16, 32, 64, 128}, 16);
    std::string names;
    for (const auto& p : backbonePresets())
        names += (names.empty() ? "" : ", ") + p.name;
    throw UserError("unknown backbone '" + name + "'; known backbones: " + names);
}

SimSiamHeadConfig defaultHeads(const BackboneConfig& backbone)
{
    SimSiamHeadConfig h;
    const int feat = backbone.featureDim();
    if (feat < 1024) {
        h.projectorDim = std::max(64, 2 * feat);
        h.predictorHidden = std::max(32, h.projectorDim / 4);
    }
    return h;
}

} // namespace medsiam::core
