#include "train/RunExport.h"

#include "data/Augment.h"
#include "models/Checkpoint.h"
#include "models/Network.h"
#include "project/Project.h"
#include "project/RunStore.h"
#include "train/FinetuneJob.h"
#include "train/ModelCard.h"
#include "train/TrainConfig.h"
#include "util/AtomicFile.h"
#include "util/Error.h"

#include <filesystem>
#include <fstream>

namespace medsiam::core {

namespace fs = std::filesystem;

namespace {

std::string describe(const BackboneConfig& b)
{
    std::string s = b.name + " (" + toString(b.arch) + ", " + toString(b.norm) + ", " + toString(b.stem) + " stem), " +
                    std::to_string(b.inChannels) + " input channel" + (b.inChannels == 1 ? "" : "s");
    s += b.numClasses > 0 ? ", " + std::to_string(b.numClasses) + " classes" : ", no classification head (features only)";
    return s;
}

/// The timm model with this layout, when there is one.
std::string timmModel(const BackboneConfig& b)
{
    if (b.stem != BackboneStem::ImageNet)
        return {};
    if (b.arch == BackboneArch::ResNetV2 && b.groupNorm() && b.name.compare(0, 5, "bit-r") == 0) {
        // bit-r50x1 -> resnetv2_50x1_bit
        return "resnetv2_" + b.name.substr(5) + "_bit";
    }
    if (b.arch == BackboneArch::ResNetV1 && (b.name == "resnet18" || b.name == "resnet50"))
        return b.name;
    return {};
}

/// model_card.md beside the weights, unless one there describes another file.
std::string cardPathFor(const fs::path& weights)
{
    const fs::path card = weights.parent_path() / "model_card.md";
    std::ifstream in(card);
    std::string first;
    if (!in || !std::getline(in, first) || first == "# Model card: " + weights.filename().string())
        return card.string();
    return (weights.parent_path() / (weights.stem().string() + ".model_card.md")).string();
}

} // namespace

RunExportResult exportRun(Project& project, const std::string& runId, ExportFormat format, const std::string& outPath)
{
    RunStore store(project);
    const auto run = store.find(runId);
    if (!run)
        throw UserError("no run '" + runId + "' in " + project.dir() + " (see `medsiam-cli runs`)");
    if (run->kind != "finetune" && run->kind != "simsiam-pretrain")
        throw UserError("run '" + runId + "' is a " + run->kind + " run and has no weights of its own; export the run it "
                        "started from, or a fine-tuned classifier");
    const std::string checkpoint = run->kind == "finetune" ? store.selectedCheckpoint(runId) : store.lastCheckpoint(runId);
    Network net = loadNetwork(checkpoint);
    BackboneImpl& backbone = net->backbone();
    const BackboneConfig& cfg = backbone.config();

    ExportedWeights weights = exportBackboneWeights(backbone, format);
    RunExportResult r;
    r.tensors = weights.tensors.size();
    r.hasHead = weights.hasHead;
    r.architecture = describe(cfg);
    const int size = run->kind == "finetune" ? evaluationSize(project, runId) : PretrainConfig::fromJson(run->config).inputSize;
    r.input = std::to_string(size) + " x " + std::to_string(size) +
              " px (the image letterboxed to a square, then resized), " +
              (inputNormalizationFor(cfg) == InputNormalization::MinusOneToOne ? "values scaled to [-1, 1] (x / 127.5 - 1)"
                                                                              : "ImageNet mean and standard deviation");
    r.notes = weights.notes;
    if (run->kind == "simsiam-pretrain")
        r.notes.push_back("a self-supervised backbone: the SimSiam projector and predictor are not exported");
    const std::string timm = timmModel(cfg);
    if (format == ExportFormat::Timm)
        r.loadHint = timm.empty() ? std::string("the tensors follow timm's naming; build the same layout in Python (docs/MODELS.md)")
                                  : "timm.create_model('" + timm + "', num_classes=" + std::to_string(cfg.numClasses) +
                                        ").load_state_dict(safetensors.torch.load_file('" + fs::path(outPath).filename().string() + "'))";
    else
        r.loadHint = timm.empty() ? std::string("the arrays follow the official BiT .npz naming (docs/MODELS.md)")
                                  : "timm.create_model('" + timm + "', num_classes=" + std::to_string(cfg.numClasses) +
                                        ").load_pretrained('" + fs::path(outPath).filename().string() + "')";
    const fs::path out = fs::absolute(outPath);
    std::error_code ec;
    if (!out.parent_path().empty())
        fs::create_directories(out.parent_path(), ec);
    writeExportedWeights(out.string(), weights, format);
    r.weightsPath = out.string();

    ModelCardInfo info;
    info.weightsFile = out.filename().string();
    info.format = exportFormatName(format);
    info.architecture = r.architecture;
    info.input = r.input;
    info.loadHint = r.loadHint;
    for (const auto& n : r.notes)
        info.notes += (info.notes.empty() ? "" : "; ") + n;
    r.cardPath = cardPathFor(out);
    writeFileAtomically(r.cardPath, modelCard(project, runId, info));
    return r;
}

} // namespace medsiam::core
