#include "models/WeightImport.h"

#include "models/Network.h"
#include "models/WeightExport.h"
#include "models/TorchTensors.h"
#include "util/Error.h"
#include "util/Text.h"

#include <ATen/ATen.h>

#include <cstdio>
#include <optional>
#include <set>

namespace medsiam::core {

std::string WeightImportReport::problemText(size_t limit) const
{
    std::string s;
    for (size_t i = 0; i < problems.size() && i < limit; ++i)
        s += "\n  " + problems[i];
    if (problems.size() > limit)
        s += "\n  ... and " + std::to_string(problems.size() - limit) + " more";
    return s;
}

std::string bitKeyForTimmName(const std::string& name, bool& hwio)
{
    hwio = false;
    const auto parts = text::split(name, '.');
    const std::string leaf = parts.back();
    auto normLeaf = [&](const std::string& prefix) -> std::string {
        if (leaf == "weight")
            return prefix + "group_norm/gamma";
        if (leaf == "bias")
            return prefix + "group_norm/beta";
        return {};
    };
    if (name == "stem.conv.weight") {
        hwio = true;
        return "resnet/root_block/standardized_conv2d/kernel";
    }
    if (parts.size() == 2 && parts[0] == "norm")
        return normLeaf("resnet/");
    if (name == "head.fc.weight") {
        hwio = true;
        return "resnet/head/conv2d/kernel";
    }
    if (name == "head.fc.bias")
        return "resnet/head/conv2d/bias";
    // stages.I.blocks.J.<module>...
    long long stage = 0, unit = 0;
    if (parts.size() < 6 || parts[0] != "stages" || parts[2] != "blocks" || !text::parseInt(parts[1], stage) ||
        !text::parseInt(parts[3], unit))
        return {};
    char prefix[64];
    std::snprintf(prefix, sizeof prefix, "resnet/block%lld/unit%02lld/", stage + 1, unit + 1);
    const std::string& module = parts[4];
    if (module == "downsample" && parts.size() == 7 && parts[5] == "conv" && leaf == "weight") {
        hwio = true;
        return std::string(prefix) + "a/proj/standardized_conv2d/kernel";
    }
    if (parts.size() != 6 || module.size() != 5)
        return {};
    const char letter = "abc"[std::min(2, std::max(0, module[4] - '1'))];
    if (module.compare(0, 4, "conv") == 0 && leaf == "weight") {
        hwio = true;
        return std::string(prefix) + letter + "/standardized_conv2d/kernel";
    }
    if (module.compare(0, 4, "norm") == 0)
        return normLeaf(std::string(prefix) + letter + "/");
    return {};
}

namespace {

std::string bitKeyFor(const std::string& name, bool& hwio) { return bitKeyForTimmName(name, hwio); }

std::vector<int64_t> toHwio(const std::vector<int64_t>& oihw)
{
    return {oihw[2], oihw[3], oihw[1], oihw[0]};
}

bool startsWith(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

} // namespace

WeightImportReport importBackboneWeights(BackboneImpl& backbone, const TensorFile& file, const WeightImportOptions& options,
                                         bool apply)
{
    WeightImportReport report;
    const BackboneConfig& cfg = backbone.config();

    // Source tensors under normalized names.
    std::map<std::string, const RawTensor*> src;
    bool bit = false;
    for (const auto& t : file.tensors)
        bit = bit || startsWith(t.name, "resnet/");
    // A medsiam export of a 1-channel network carries its exact stem (WeightExport.h).
    std::optional<RawTensor> grayWeight, grayGain;
    if (bit) {
        report.naming = "BiT";
        for (const auto& t : file.tensors) {
            if (t.name == kGrayStemNpzWeight)
                grayWeight = t;
            else if (t.name == kGrayStemNpzGain)
                grayGain = t;
            else
                src[t.name] = &t;
        }
    } else {
        if (const auto it = file.metadata.find(kGrayStemWeightKey); it != file.metadata.end())
            grayWeight = decodeTensorText(kGrayStemWeightKey, it->second);
        if (const auto it = file.metadata.find(kGrayStemGainKey); it != file.metadata.end())
            grayGain = decodeTensorText(kGrayStemGainKey, it->second);
        const bool medsiam = file.metadata.count("format") && file.metadata.at("format") == "medsiam-checkpoint";
        report.naming = medsiam ? "medsiam" : "timm/torchvision";
        bool allModule = !file.tensors.empty();
        for (const auto& t : file.tensors)
            allModule = allModule && startsWith(t.name, "module.");
        std::string scope;
        for (const char* candidate : {"model.backbone.", "backbone."})
            for (const auto& t : file.tensors)
                if (scope.empty() && startsWith(t.name.substr(allModule ? 7 : 0), candidate))
                    scope = candidate;
        int other = 0;
        for (const auto& t : file.tensors) {
            std::string n = t.name.substr(allModule ? 7 : 0);
            if (!scope.empty()) {
                if (!startsWith(n, scope)) {
                    ++other;
                    continue;
                }
                n = n.substr(scope.size());
            }
            src[n] = &t;
        }
        if (other)
            report.notes.push_back(std::to_string(other) + " tensors outside the backbone (SimSiam heads, optimizer "
                                   "state) are not used");
    }

    // Which target tensors belong to a normalization layer, and of which kind.
    std::map<std::string, Norm2dImpl*> norms;
    for (const auto& m : backbone.named_modules("", false))
        if (auto* n = m.value()->as<Norm2dImpl>())
            norms[m.key()] = n;

    std::vector<std::pair<std::string, torch::Tensor>> targets;
    for (const auto& p : backbone.named_parameters(true))
        targets.emplace_back(p.key(), p.value());
    for (const auto& b : backbone.named_buffers(true))
        targets.emplace_back(b.key(), b.value());
    report.modelTensors = static_cast<int>(targets.size());

    auto sourceKey = [&](const std::string& name, bool& hwio) {
        hwio = false;
        return bit ? bitKeyFor(name, hwio) : name;
    };
    const std::string headPrefix = backbone.headPrefix();
    const std::string sourceHeadPrefix = bit ? "resnet/head/" : cfg.arch == BackboneArch::ResNetV2 ? "head." : "fc.";
    const std::string stemName = backbone.stemConvName() + ".weight";
    const std::string gainName = backbone.stemConvName() + ".ws_gain";

    std::set<std::string> consumed;
    struct Copy {
        torch::Tensor target;
        const RawTensor* source;
        bool hwio;
        bool grayStem;
    };
    std::vector<Copy> copies;
    int droppedAffine = 0, droppedStats = 0;
    bool adaptStem = false;

    for (const auto& [name, target] : targets) {
        const bool isHead = !headPrefix.empty() && startsWith(name, headPrefix);
        const auto dot = name.rfind('.');
        const std::string owner = name.substr(0, dot), leaf = name.substr(dot + 1);
        bool hwio = false;
        const std::string key = sourceKey(name, hwio);

        if (isHead && options.skipHead) {
            continue;
        }
        if (name == gainName) {
            if (!key.empty() && src.count(key)) {
                consumed.insert(key);
                copies.push_back({target, src[key], false, false});
                ++report.loaded;
            }
            continue; // otherwise set by the stem adaptation, or left at 1
        }
        if (auto it = norms.find(owner); it != norms.end()) {
            const bool targetBn = !it->second->isGroupNorm();
            const bool sourceBn = !bit && src.count(owner + ".running_mean");
            if (targetBn && !sourceBn) {
                // GroupNorm (or no) statistics in the file: BatchNorm starts fresh, as the paper's authors did.
                if (leaf == "weight" || leaf == "bias") {
                    if (!key.empty() && src.count(key)) {
                        consumed.insert(key);
                        ++droppedAffine;
                    }
                }
                continue;
            }
            if (!targetBn && sourceBn) {
                for (const char* stat : {".running_mean", ".running_var", ".num_batches_tracked"})
                    if (src.count(owner + stat) && consumed.insert(owner + stat).second)
                        ++droppedStats;
            }
        }
        if (key.empty()) {
            report.problems.push_back("the " + std::string(formatName(file.format)) + " naming has no tensor for '" + name + "'");
            continue;
        }
        auto found = src.find(key);
        if (found == src.end()) {
            std::vector<int64_t> expect = hwio ? toHwio(target.sizes().vec()) : target.sizes().vec();
            report.problems.push_back("missing '" + key + "' (expected shape " + shapeText(expect) + ")" +
                                      (isHead ? "; use --skip-head to start a new classification head" : ""));
            continue;
        }
        consumed.insert(key);
        const RawTensor& s = *found->second;
        std::vector<int64_t> expect = hwio ? toHwio(target.sizes().vec()) : target.sizes().vec();
        bool grayStem = false;
        if (name == stemName && cfg.inChannels == 1 && s.shape.size() == 4) {
            auto three = expect;
            three[hwio ? 2 : 1] = 3;
            if (s.shape == three) {
                grayStem = true;
                adaptStem = true;
                expect = three;
            }
        }
        if (s.shape != expect) {
            report.problems.push_back(key + ": expected " + shapeText(expect) + ", found " + s.shapeText() +
                                      (isHead ? " (use --skip-head to start a new classification head)" : ""));
            continue;
        }
        if (s.dtype == DType::Bool || (target.is_floating_point() && s.dtype != DType::F32 && s.dtype != DType::F64 &&
                                       s.dtype != DType::F16 && s.dtype != DType::BF16)) {
            report.problems.push_back(key + ": holds " + dtypeCode(s.dtype) + " values where floating point is expected");
            continue;
        }
        copies.push_back({target, &s, hwio, grayStem});
        ++report.loaded;
    }

    for (const auto& [key, tensor] : src) {
        if (consumed.count(key))
            continue;
        if (startsWith(key, sourceHeadPrefix)) {
            if (headPrefix.empty() || options.skipHead) {
                consumed.insert(key);
                continue;
            }
        }
        report.problems.push_back("unexpected tensor '" + key + "' " + tensor->shapeText() + " in the file: it is not part of " +
                                  cfg.name + " (" + toString(cfg.norm) + ")");
    }
    bool fileHasHead = false;
    for (const auto& [key, tensor] : src)
        fileHasHead = fileHasHead || startsWith(key, sourceHeadPrefix);
    if (fileHasHead && headPrefix.empty())
        report.notes.push_back("the file's classification head is not used: this network has no classifier");
    if (options.skipHead && !headPrefix.empty())
        report.notes.push_back("classification head starts at zero (" + std::to_string(cfg.numClasses) + " classes), as asked");
    if (droppedAffine)
        report.notes.push_back(std::to_string(droppedAffine) + " GroupNorm scale/shift tensors dropped: this network uses "
                               "BatchNorm, which starts at scale 1, shift 0 (conv kernels are copied unchanged)");
    if (droppedStats)
        report.notes.push_back(std::to_string(droppedStats) + " BatchNorm running statistics dropped: this network uses GroupNorm");
    if (adaptStem)
        report.notes.push_back("stem adapted from 3 input channels to 1 by summing over the input-channel axis");
    if (bit && cfg.norm == BackboneNorm::Bn)
        report.notes.push_back("the kernels were trained with weight standardization, which this network (bn) does not use");

    if (!apply || !report.matches())
        return report;

    torch::NoGradGuard guard;
    for (const auto& c : copies) {
        torch::Tensor value = rawToTorch(*c.source);
        if (c.hwio)
            value = value.permute({3, 2, 0, 1});
        if (c.grayStem) {
            torch::Tensor gain;
            const bool ws = cfg.weightStandardized();
            value = adaptStemToGray(value.to(torch::kFloat), ws, cfg.wsEps, gain);
            if (gain.defined())
                for (const auto& [name, target] : targets)
                    if (name == gainName)
                        target.copy_(gain);
        }
        c.target.copy_(value.to(c.target.scalar_type()).contiguous());
    }
    // The exact 1-channel stem of a medsiam export, in place of the one adapted from 3 channels.
    if (cfg.inChannels == 1 && grayWeight) {
        bool used = false;
        for (const auto& [name, target] : targets) {
            const RawTensor* exact = name == stemName ? &*grayWeight : name == gainName && grayGain ? &*grayGain : nullptr;
            if (exact && exact->shape == target.sizes().vec()) {
                target.copy_(rawToTorch(*exact).to(target.scalar_type()));
                used = true;
            }
        }
        if (used)
            report.notes.push_back("the 1-channel stem is the exact one medsiam exported with the file");
    }
    return report;
}

WeightImportReport loadBackboneWeights(BackboneImpl& backbone, const std::string& path, const WeightImportOptions& options)
{
    const TensorFile file = readTensorFile(path);
    WeightImportReport report = importBackboneWeights(backbone, file, options, true);
    if (!report.matches())
        throw UserError("'" + path + "' (" + formatName(file.format) + ", " + report.naming + " names) does not fit " +
                        backbone.config().name + " (" + toString(backbone.config().norm) + ", " +
                        std::to_string(backbone.config().numClasses) + " classes):" + report.problemText());
    return report;
}

std::vector<std::pair<std::string, std::vector<int64_t>>> expectedBitLayout(BackboneImpl& backbone)
{
    std::vector<std::pair<std::string, std::vector<int64_t>>> out;
    for (const auto& p : backbone.named_parameters(true)) {
        bool hwio = false;
        const std::string key = bitKeyFor(p.key(), hwio);
        if (!key.empty())
            out.emplace_back(key, hwio ? toHwio(p.value().sizes().vec()) : p.value().sizes().vec());
    }
    return out;
}

} // namespace medsiam::core
