#pragma once
// What a user asks of a new run, and the one place that turns it into a run's settings: the
// defaults, the values derived from the project (input channels, classes, the weights of an
// earlier run) and every check, with the refusals in words. `medsiam-cli pretrain | finetune |
// probe` and the desktop app's new-run dialog fill a request with what the user set and nothing
// else, so that both refuse the same settings with the same words. No LibTorch: the check that a
// weights file fits the network is the job's (checkInitWeights), run off the GUI thread.
#include "train/LinearProbe.h"
#include "train/TrainConfig.h"

#include <optional>
#include <string>
#include <vector>

namespace medsiam::core {

class Project;

/// The backbone a run gets when the user names none.
constexpr const char* kDefaultBackbone = "bit-nano";

/// Every field the user may set; an empty one takes the default. Fields that a kind of run does
/// not use are ignored by its builder.
struct RunRequest {
    // The network and where it starts
    std::optional<std::string> backbone;  ///< see `medsiam-cli model list`
    std::optional<std::string> norm;      ///< gn_ws, bn_ws or bn (ResNet-v2 backbones)
    std::optional<std::string> stem;      ///< imagenet or cifar; default: by the images' size (smallImageStem)
    std::optional<int> inChannels;        ///< 1 or 3; default: 1 when every image is grey
    std::optional<std::string> initFile;  ///< BiT .npz, timm/torchvision weights, a medsiam checkpoint
    std::optional<std::string> initRun;   ///< the last checkpoint of an earlier run of the project
    // Training
    std::optional<int64_t> steps;
    std::optional<double> budgetSeconds;  ///< a time budget (parseDuration); instead of steps
    std::optional<int> batch;
    std::optional<int> inputSize;         ///< pretraining's input, fine-tuning's crop
    std::optional<double> lr;
    std::optional<uint64_t> seed;
    std::optional<int64_t> checkpointEvery;
    std::optional<std::string> subset;    ///< "a" or "b"
    std::optional<bool> bf16;             ///< unset: on for CPU runs where the CPU has AVX512-BF16 (RunContext)
    bool cuda = false;
    // SimSiam pretraining
    std::optional<int64_t> warmupSteps;
    std::optional<double> weightDecay;
    std::optional<std::string> headNorm;  ///< bn, gn, ln or none
    std::optional<int> projectorDim, predictorDim, projectorLayers;
    std::optional<int64_t> monitorEvery;
    bool monitorAtStart = false;
    bool noStopGradient = false;
    std::vector<std::string> augmentOn, augmentOff; ///< crop, flip, jitter, grayscale, blur
    // Fine-tuning
    std::optional<std::string> recipe;    ///< hyperrule or adamw; default: by the starting point (see recipeFor)
    std::optional<std::string> optimizer; ///< sgd or adamw
    std::optional<std::string> schedule;  ///< steps or cosine
    std::optional<std::string> classBalance; ///< none, weighted or sampler
    std::optional<double> labelSmoothing;
    std::optional<int> microBatch;
    std::optional<int> resize;
    std::optional<double> mixupAlpha;
    std::optional<int64_t> evalEvery;
    bool classWeighted = false;           ///< same as classBalance "weighted"
    bool balancedSampler = false;         ///< same as classBalance "sampler"
    // Linear probe
    std::optional<std::string> probeRun;  ///< probe this run's backbone (else `backbone` from `initFile`)
    bool probeUnweighted = false;
    std::vector<double> labelFractions;   ///< label efficiency (parseLabelFractions)
    std::optional<int> labelDraws;        ///< draws of each fraction below 1
};

/// Images whose median side is at most this many pixels are "small" (MedMNIST's 28 px, CIFAR's
/// 32): a network started from random weights or a medsiam run gets the CIFAR stem for them and
/// keeps their resolution, unless the user asks for a larger input. The CIFAR stem costs ~4x the
/// ImageNet stem's time per image at the same input size (docs/TRAINING.md), so larger images
/// keep the ImageNet stem.
constexpr int kSmallImageSide = 40;

/// The fine-tuning recipe for a run started from `initWeights` ("" random; a medsiam checkpoint;
/// or other weights: BiT, timm, torchvision): the HyperRule for ImageNet-class weights, the AdamW
/// recipe otherwise (docs/TRAINING.md says why).
std::string recipeFor(const std::string& initWeights);

/// The model a medsiam checkpoint holds, from its header; nullopt for other weight files (or a
/// file that is not there).
std::optional<ModelConfig> checkpointModel(const std::string& path);

/// What the builders know about the machine (LibTorch knows it; this header must not).
struct RunContext {
    bool cudaAvailable = false;
    /// The CPU has AVX512-BF16: bf16 autocast is then the default for CPU runs (several times
    /// faster there). Without it, bf16 is emulated and ~10x slower (docs/TRAINING.md).
    bool cpuBf16 = false;
};

/// A built configuration, or the reasons it cannot be one (each a full sentence for the user).
template <typename Config>
struct BuiltRun {
    std::optional<Config> config;
    std::vector<std::string> refusals;
    bool ok() const { return config.has_value(); }
    /// The refusals as one message ("" when none).
    std::string message() const;
};

/// Where a new classifier should start when the user has not said: the project's most recent
/// completed SimSiam run that has a checkpoint (its features were learnt from these very images);
/// nullopt when there is none (random initialization, or a file the user names).
std::optional<std::string> suggestedFinetuneStart(Project& project);

BuiltRun<PretrainConfig> buildPretrain(Project& project, const RunRequest& request, const RunContext& context);
BuiltRun<FinetuneConfig> buildFinetune(Project& project, const RunRequest& request, const RunContext& context);
BuiltRun<ProbeConfig> buildProbe(Project& project, const RunRequest& request, const RunContext& context);

} // namespace medsiam::core
