// medsiam-cli model list | info | convert | bench
#include "ArgParser.h"
#include "Commands.h"

#include "models/Checkpoint.h"
#include "models/Network.h"
#include "models/WeightImport.h"
#include "system/Runtime.h"
#include "system/TorchCompat.h"
#include "util/Error.h"
#include "util/Text.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>

namespace medsiam::cli {

namespace {

std::string grouped(int64_t n)
{
    std::string s = std::to_string(n);
    for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3)
        s.insert(static_cast<size_t>(i), ",");
    return s;
}

std::string shortNumber(double v)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

/// The options shared by info, convert and bench that describe the network.
void addNetworkOptions(ArgParser& p)
{
    p.option("backbone", "NAME", "named backbone (see `medsiam-cli model list`), e.g. bit-r50x1")
        .option("norm", "KIND", "backbone normalization: gn_ws (BiT), bn_ws (the paper's authors) or bn; ResNet-v2 only")
        .option("stem", "KIND", "first layer: imagenet (7x7/2 conv and max-pool) or cifar (3x3/1 conv, no pooling)", "imagenet")
        .option("ws-eps", "EPS", "weight standardization eps (timm's BiT: 1e-8; the original BiT code: 1e-10)", "1e-8")
        .option("in-channels", "N", "input channels: 1 (grayscale) or 3", "3")
        .option("classes", "N", "classification head outputs; 0 for none", "0");
}

core::BackboneConfig backboneFromOptions(const ArgParser& p)
{
    if (!p.has("backbone"))
        throw UsageError("--backbone is required (see `medsiam-cli model list`)");
    core::BackboneConfig b = core::backbonePreset(p.value("backbone"));
    if (p.has("norm")) {
        if (b.arch != core::BackboneArch::ResNetV2)
            throw UsageError("--norm applies to ResNet-v2 backbones; " + b.name + " always uses BatchNorm");
        b.norm = core::parseBackboneNorm(p.value("norm"));
    }
    if (p.has("stem"))
        b.stem = core::parseBackboneStem(p.value("stem"));
    b.wsEps = p.doubleValue("ws-eps", 1e-20, 1e-2);
    b.inChannels = p.intValue("in-channels", 1, 3);
    b.numClasses = p.intValue("classes", 0, 1000000);
    b.validate();
    return b;
}

void printLayerTable(const core::BackboneConfig& b, core::NetworkImpl& net, int size)
{
    const bool v2 = b.arch == core::BackboneArch::ResNetV2;
    std::printf("%s: %s, %s, %d input channel%s, %s\n", b.name.c_str(), v2 ? "ResNet-v2 (pre-activation)" : "ResNet v1",
                v2 ? core::toString(b.norm) : "bn", b.inChannels, b.inChannels == 1 ? "" : "s",
                b.numClasses ? (std::to_string(b.numClasses) + "-class head").c_str() : "no classification head");
    if (v2)
        std::printf("%s; weight standardization %s\n",
                    b.norm == core::BackboneNorm::GnWs ? ("GroupNorm " + std::to_string(b.gnGroups) + " groups, eps " + shortNumber(b.gnEps)).c_str()
                                                       : ("BatchNorm eps " + shortNumber(b.bnEps) + ", momentum " + shortNumber(b.bnMomentum)).c_str(),
                    b.weightStandardized() ? ("eps " + shortNumber(b.wsEps)).c_str() : "off");
    const auto sizes = b.featureMapSizes(size);
    std::printf("\n%-12s %6s %8s %7s  %-18s %14s\n", "layer", "units", "out ch", "stride", ("output @" + std::to_string(size) + "px").c_str(), "params");
    auto& bb = net.backbone();
    auto row = [&](const std::string& name, const std::string& units, int ch, const std::string& stride, const std::string& out,
                   int64_t params) {
        std::printf("%-12s %6s %8d %7s  %-18s %14s\n", name.c_str(), units.c_str(), ch, stride.c_str(), out.c_str(), grouped(params).c_str());
    };
    auto map = [&](int ch, int s) { return std::to_string(ch) + "x" + std::to_string(s) + "x" + std::to_string(s); };
    row("stem", "-", b.stemChannels, b.stem == core::BackboneStem::Cifar ? "1" : "4", map(b.stemChannels, sizes[0]),
        v2 ? core::parameterCount(bb, "stem.") : core::parameterCount(bb, "conv1.") + core::parameterCount(bb, "bn1."));
    for (size_t s = 0; s < b.layers.size(); ++s)
        row((v2 ? "stage" : "layer") + std::to_string(s + 1), std::to_string(b.layers[s]), b.channels[s], s == 0 ? "1" : "2",
            map(b.channels[s], sizes[s + 1]),
            core::parameterCount(bb, v2 ? "stages." + std::to_string(s) + "." : "layer" + std::to_string(s + 1) + "."));
    if (v2)
        row("final norm", "-", b.featureDim(), "-", std::to_string(b.featureDim()) + " (pooled)", core::parameterCount(bb, "norm."));
    if (b.numClasses)
        row("head", "-", b.numClasses, "-", std::to_string(b.numClasses), core::parameterCount(bb, bb.headPrefix()));
    const int64_t total = core::parameterCount(bb);
    const int64_t head = b.numClasses ? core::parameterCount(bb, bb.headPrefix()) : 0;
    std::printf("\nparameters: %s in the backbone without head", grouped(total - head).c_str());
    if (head)
        std::printf(", %s with the head", grouped(total).c_str());
    if (net.hasSimSiamHeads())
        std::printf(", %s with the SimSiam heads", grouped(core::parameterCount(net)).c_str());
    std::printf("\n");
}

void printReport(const core::WeightImportReport& r)
{
    for (const auto& n : r.notes)
        std::printf("  note: %s\n", n.c_str());
    if (r.matches()) {
        if (r.loaded == r.modelTensors)
            std::printf("  result: the weights match: all %d of the model's parameters and buffers come from the file\n", r.loaded);
        else
            std::printf("  result: the weights match: %d tensors come from the file; the other %d of the model's %d parameters "
                        "and buffers start fresh\n", r.loaded, r.modelTensors - r.loaded, r.modelTensors);
    } else {
        std::printf("  result: the weights do NOT match (%zu problems):%s\n", r.problems.size(), r.problemText(40).c_str());
    }
}

int runList(const std::vector<std::string>& args)
{
    ArgParser p("medsiam-cli model list", "Lists the named backbones with their parameter counts (without a head).");
    if (!p.parse(args))
        return 0;
    std::printf("%-12s %14s  %s\n", "name", "params", "description");
    for (const auto& preset : core::backbonePresets()) {
        const auto b = core::backbonePreset(preset.name);
        std::printf("%-12s %14s  %s\n", preset.name.c_str(), grouped(b.parameterCount(false)).c_str(), preset.description.c_str());
    }
    return 0;
}

int runModelInfo(const std::vector<std::string>& args)
{
    ArgParser p("medsiam-cli model info (--backbone NAME | --weights CHECKPOINT) [options]",
                "Prints a network's layer table and parameter count and, with --weights, whether a weights file\n"
                "fits it: an official BiT .npz, timm or torchvision weights (safetensors, .pt/.bin) or a medsiam\n"
                "checkpoint. Exits with status 1 when the weights do not fit.");
    addNetworkOptions(p);
    p.option("weights", "FILE", "weights to check against the network")
        .flag("skip-head", "accept a file whose classification head is missing or has another class count")
        .option("size", "PX", "input size for the output-shape column", "224");
    if (!p.parse(args))
        return 0;
    const int size = p.intValue("size", 32, 4096);
    core::ModelConfig config;
    std::optional<core::TensorFile> file;
    if (p.has("weights"))
        file = core::readTensorFile(p.value("weights"));
    if (p.has("backbone")) {
        config.backbone = backboneFromOptions(p);
    } else if (file && core::isMedsiamCheckpoint(*file)) {
        config = core::ModelConfig::fromJson(file->metadata.at("config"));
    } else {
        throw UsageError("--backbone is required unless --weights names a medsiam checkpoint");
    }
    core::Network net(config);
    printLayerTable(config.backbone, *net, size);
    if (!file)
        return 0;
    std::printf("\nweights: %s\n  format: %s, %zu tensors\n", file->path.c_str(), core::formatName(file->format), file->tensors.size());
    core::WeightImportOptions options;
    options.skipHead = p.has("skip-head");
    const auto report = core::importBackboneWeights(net->backbone(), *file, options, false);
    std::printf("  names: %s\n", report.naming.c_str());
    printReport(report);
    return report.matches() ? 0 : 1;
}

int runConvert(const std::vector<std::string>& args)
{
    ArgParser p("medsiam-cli model convert --weights FILE --out CHECKPOINT [--backbone NAME] [options]",
                "Converts weights (BiT .npz, timm/torchvision safetensors or .pt/.bin, or a medsiam checkpoint) into\n"
                "a medsiam checkpoint for the given network. The network may differ from the source in its\n"
                "normalization (GroupNorm weights into bn_ws keep the conv kernels and drop the GroupNorm scale\n"
                "and shift), its input channels (3 -> 1 sums the stem over colour) and, with --skip-head, its head.");
    addNetworkOptions(p);
    p.option("weights", "FILE", "the weights to convert")
        .option("out", "FILE", "the medsiam checkpoint to write (.safetensors)")
        .flag("skip-head", "start a new, zero classification head instead of the file's")
        .flag("simsiam-heads", "add freshly initialized SimSiam projector and predictor heads")
        .option("head-norm", "KIND", "SimSiam head normalization: bn, gn, ln or none", "bn")
        .option("projector-dim", "N", "SimSiam projector dimension (default: scaled to the backbone)")
        .option("predictor-dim", "N", "SimSiam predictor bottleneck (default: projector-dim / 4)");
    if (!p.parse(args))
        return 0;
    if (!p.has("weights") || !p.has("out"))
        throw UsageError("--weights and --out are required");
    const core::TensorFile file = core::readTensorFile(p.value("weights"));
    core::ModelConfig config;
    if (p.has("backbone"))
        config.backbone = backboneFromOptions(p);
    else if (core::isMedsiamCheckpoint(file))
        config = core::ModelConfig::fromJson(file.metadata.at("config"));
    else
        throw UsageError("--backbone is required unless --weights names a medsiam checkpoint");
    if (p.has("simsiam-heads")) {
        config.simsiamHeads = true;
        config.heads = core::defaultHeads(config.backbone);
        config.heads.norm = core::parseHeadNorm(p.value("head-norm"));
        if (p.has("projector-dim")) {
            config.heads.projectorDim = p.intValue("projector-dim", 2, 65536);
            config.heads.predictorHidden = std::max(1, config.heads.projectorDim / 4);
        }
        if (p.has("predictor-dim"))
            config.heads.predictorHidden = p.intValue("predictor-dim", 1, 65536);
        config.heads.validate();
    }
    core::Network net(config);
    core::WeightImportOptions options;
    options.skipHead = p.has("skip-head");
    const auto report = core::importBackboneWeights(net->backbone(), file, options, true);
    std::printf("%s (%s, %s names) -> %s (%s)\n", file.path.c_str(), core::formatName(file.format), report.naming.c_str(),
                p.value("out").c_str(), config.backbone.name.c_str());
    printReport(report);
    if (!report.matches())
        return 1;
    core::TrainingState state;
    state.extraJson = "{\"converted_from\": \"" + core::text::split(file.path, '/').back() + "\"}";
    core::saveCheckpoint(p.value("out"), *net, state);
    std::printf("wrote %s\n", p.value("out").c_str());
    return 0;
}

int runBench(const std::vector<std::string>& args)
{
    ArgParser p("medsiam-cli model bench --backbone NAME [options]",
                "Times the forward pass and the forward+backward pass of a network on random input, in training\n"
                "mode, and prints milliseconds per batch and images per second.");
    addNetworkOptions(p);
    p.option("size", "PX", "input size", "224")
        .option("batch", "N", "batch size", "8")
        .option("steps", "N", "timed repetitions (after one warm-up)", "5")
        .threadsOption()
        .flag("bf16", "autocast to bfloat16 (CPU with AVX512-BF16, or CUDA)")
        .flag("cuda", "run on the GPU");
    if (!p.parse(args))
        return 0;
    core::configureThreads(p.threads());
    core::ModelConfig config;
    config.backbone = backboneFromOptions(p);
    const int size = p.intValue("size", 32, 4096), batch = p.intValue("batch", 1, 4096), steps = p.intValue("steps", 1, 10000);
    const bool cuda = p.has("cuda");
    if (cuda && !core::runtimeInfo().cudaAvailable)
        throw core::UserError("--cuda: no CUDA device is available to this LibTorch");
    const auto device = cuda ? at::Device(at::kCUDA) : at::Device(at::kCPU);
    core::Network net(config);
    net->to(device);
    net->train();
    auto x = at::randn({batch, config.backbone.inChannels, size, size}, at::TensorOptions().device(device));
    using Clock = std::chrono::steady_clock;
    auto timeIt = [&](bool backward) {
        double total = 0;
        for (int i = 0; i <= steps; ++i) {
            const auto t0 = Clock::now();
            {
                core::compat::Autocast autocast(cuda, p.has("bf16"));
                auto f = net->backbone().forwardFeatures(x);
                if (backward)
                    f.to(at::kFloat).pow(2).mean().backward();
            }
            if (cuda)
                core::compat::synchronize();
            const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
            if (i > 0)
                total += dt;
        }
        return total / steps;
    };
    double fwd;
    {
        torch::NoGradGuard guard;
        fwd = timeIt(false);
    }
    const double both = timeIt(true);
    std::printf("%s (%s) %dx%dx%d px, batch %d, %s%s, %d threads: forward %.1f ms (%.1f img/s), forward+backward %.1f ms "
                "(%.1f img/s)\n",
                config.backbone.name.c_str(), core::toString(config.backbone.norm), config.backbone.inChannels, size, size, batch,
                cuda ? "CUDA" : "CPU", p.has("bf16") ? " bf16" : " fp32", core::runtimeInfo().threads, fwd * 1e3, batch / fwd,
                both * 1e3, batch / both);
    return 0;
}

} // namespace

int runModel(const std::vector<std::string>& args)
{
    const char* usage = "usage: medsiam-cli model SUBCOMMAND [options]\n\n"
                        "  list      the named backbones and their parameter counts\n"
                        "  info      a network's layer table; with --weights, whether a weights file fits it\n"
                        "  convert   BiT .npz / timm / torchvision / medsiam weights -> a medsiam checkpoint\n"
                        "  bench     forward and backward time on this machine\n";
    if (args.empty())
        throw UsageError("a subcommand is needed: list, info, convert or bench");
    const std::string sub = args.front();
    const std::vector<std::string> rest(args.begin() + 1, args.end());
    if (sub == "-h" || sub == "--help") {
        std::cout << usage;
        return 0;
    }
    try {
        if (sub == "list")
            return runList(rest);
        if (sub == "info")
            return runModelInfo(rest);
        if (sub == "convert")
            return runConvert(rest);
        if (sub == "bench")
            return runBench(rest);
    } catch (const c10::Error& e) {
        // LibTorch's own errors carry a C++ backtrace that means nothing to a user.
        throw core::UserError(std::string("LibTorch: ") + e.what_without_backtrace());
    }
    throw UsageError("unknown subcommand '" + sub + "': use list, info, convert or bench");
}

} // namespace medsiam::cli
