#include "models/Checkpoint.h"

#include "models/TorchTensors.h"
#include "system/TorchCompat.h"
#include "util/Error.h"

#include <ATen/ATen.h>

#include <set>

namespace medsiam::core {

void captureRng(TrainingState& state)
{
    state.rngCpu = compat::generatorState(false);
    state.rngCuda = compat::generatorState(true);
}

void restoreRng(const TrainingState& state)
{
    if (state.rngCpu.defined())
        compat::setGeneratorState(false, state.rngCpu);
    if (state.rngCuda.defined())
        compat::setGeneratorState(true, state.rngCuda);
}

void saveCheckpoint(const std::string& path, NetworkImpl& network, const TrainingState& state)
{
    std::vector<RawTensor> tensors;
    for (const auto& p : network.named_parameters(true))
        tensors.push_back(torchToRaw("model." + p.key(), p.value()));
    for (const auto& b : network.named_buffers(true))
        tensors.push_back(torchToRaw("model." + b.key(), b.value()));
    for (const auto& [name, t] : state.optimizer)
        tensors.push_back(torchToRaw("optimizer." + name, t));
    if (state.rngCpu.defined())
        tensors.push_back(torchToRaw("rng.cpu", state.rngCpu));
    if (state.rngCuda.defined())
        tensors.push_back(torchToRaw("rng.cuda", state.rngCuda));
    const std::map<std::string, std::string> metadata = {{"format", "medsiam-checkpoint"},
                                                         {"version", "1"},
                                                         {"config", network.config().toJson()},
                                                         {"step", std::to_string(state.step)},
                                                         {"epoch", std::to_string(state.epoch)},
                                                         {"extra", state.extraJson}};
    writeSafetensors(path, tensors, metadata);
}

bool isMedsiamCheckpoint(const TensorFile& file)
{
    auto it = file.metadata.find("format");
    return file.format == TensorFileFormat::Safetensors && it != file.metadata.end() && it->second == "medsiam-checkpoint";
}

CheckpointContents readCheckpoint(const std::string& path)
{
    CheckpointContents c;
    c.file = readTensorFile(path);
    if (!isMedsiamCheckpoint(c.file))
        throw UserError("'" + path + "' is a " + formatName(c.file.format) + " file, not a medsiam checkpoint");
    const auto& meta = c.file.metadata;
    if (meta.count("version") && meta.at("version") != "1")
        throw UserError("'" + path + "' is a medsiam checkpoint of version " + meta.at("version") +
                        ", written by a newer medsiam; this one reads version 1");
    if (!meta.count("config"))
        throw UserError("'" + path + "': the checkpoint has no model configuration");
    c.config = ModelConfig::fromJson(meta.at("config"));
    auto number = [&](const char* key) -> int64_t {
        if (!meta.count(key))
            return 0;
        try {
            return std::stoll(meta.at(key));
        } catch (const std::exception&) {
            throw UserError("'" + path + "': checkpoint field '" + key + "' is not a number");
        }
    };
    c.state.step = number("step");
    c.state.epoch = number("epoch");
    if (meta.count("extra"))
        c.state.extraJson = meta.at("extra");
    for (const auto& t : c.file.tensors) {
        if (t.name.compare(0, 10, "optimizer.") == 0)
            c.state.optimizer.emplace_back(t.name.substr(10), rawToTorch(t));
        else if (t.name == "rng.cpu")
            c.state.rngCpu = rawToTorch(t);
        else if (t.name == "rng.cuda")
            c.state.rngCuda = rawToTorch(t);
    }
    return c;
}

void loadNetworkState(NetworkImpl& network, const TensorFile& file)
{
    std::map<std::string, const RawTensor*> src;
    for (const auto& t : file.tensors)
        if (t.name.compare(0, 6, "model.") == 0)
            src[t.name.substr(6)] = &t;
    std::vector<std::string> problems;
    std::vector<std::pair<torch::Tensor, const RawTensor*>> copies;
    std::set<std::string> used;
    auto visit = [&](const std::string& name, const torch::Tensor& target) {
        auto it = src.find(name);
        if (it == src.end()) {
            problems.push_back("missing 'model." + name + "' " + shapeText(target.sizes().vec()));
            return;
        }
        used.insert(name);
        if (it->second->shape != target.sizes().vec()) {
            problems.push_back("model." + name + ": expected " + shapeText(target.sizes().vec()) + ", found " +
                               it->second->shapeText());
            return;
        }
        copies.emplace_back(target, it->second);
    };
    for (const auto& p : network.named_parameters(true))
        visit(p.key(), p.value());
    for (const auto& b : network.named_buffers(true))
        visit(b.key(), b.value());
    for (const auto& [name, t] : src)
        if (!used.count(name))
            problems.push_back("unexpected tensor 'model." + name + "' " + t->shapeText());
    if (!problems.empty()) {
        std::string text;
        for (size_t i = 0; i < problems.size() && i < 12; ++i)
            text += "\n  " + problems[i];
        if (problems.size() > 12)
            text += "\n  ... and " + std::to_string(problems.size() - 12) + " more";
        throw UserError("'" + file.path + "' does not match its model configuration:" + text);
    }
    torch::NoGradGuard guard;
    for (auto& [target, raw] : copies)
        target.copy_(rawToTorch(*raw).to(target.scalar_type()));
}

Network loadNetwork(const std::string& path, TrainingState* state)
{
    CheckpointContents c = readCheckpoint(path);
    Network net(c.config);
    loadNetworkState(*net, c.file);
    if (state)
        *state = std::move(c.state);
    return net;
}

} // namespace medsiam::core
