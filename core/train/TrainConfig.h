#pragma once
// Settings of the training jobs, as stored in runs/<id>/config.json. No LibTorch here.
#include "data/Augment.h"
#include "models/ModelConfig.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace medsiam::core {

struct PretrainConfig {
    ModelConfig model;            ///< backbone + SimSiam heads
    std::string initWeights;      ///< BiT .npz, timm/torchvision weights or a medsiam checkpoint; empty: random
    int64_t steps = 300;          ///< with a budget: the latest plan (0 before the run has measured its speed)
    double budgetSeconds = 0;     ///< > 0: train for this long (see train/Budget.h), sizing the steps to it
    int batch = 64;
    int inputSize = 64;           ///< network input side in pixels
    double baseLr = 0.05;         ///< lr = baseLr x batch / 256
    double momentum = 0.9;
    double weightDecay = 1e-4;
    int64_t warmupSteps = 0;
    bool fixedPredictorLr = true; ///< SimSiam's fix_pred_lr: the predictor keeps the initial lr
    bool stopGradient = true;     ///< SimSiam's stop-gradient; off only to show collapse
    uint64_t seed = 0;
    bool bf16 = false;            ///< bf16 autocast (CPU with AVX512-BF16, or CUDA)
    bool cuda = false;
    int64_t checkpointEvery = 50;
    int64_t monitorEvery = 0;     ///< kNN monitor every N steps; 0: at the end of every epoch
    bool monitorAtStart = false;  ///< also a kNN monitor before the first step (where the init starts)
    std::string subset;           ///< "", "a" or "b": one deterministic half of the images
    AugmentConfig augment;

    std::string toJson() const;
    static PretrainConfig fromJson(const std::string& json);
    InputNormalization normalization() const;
    /// What the collapse monitor's output std stays near in a healthy run: 1 / sqrt(projector dim).
    double healthyOutputStd() const;
};

/// BiT-HyperRule (Kolesnikov et al., 2020) for a dataset of `examples` labeled images whose
/// typical size is rows x columns.
struct HyperRule {
    int64_t warmupSteps = 0;
    std::vector<int64_t> decaySteps; ///< lr x 0.1 at each
    int64_t totalSteps = 0;
    double mixupAlpha = 0;           ///< 0.1 from 20k examples, else 0
    int resize = 0, crop = 0;        ///< 160/128 under 96x96 px, else 512/480
};
HyperRule bitHyperRule(int64_t examples, int rows, int columns);

/// The fine-tuning recipes (docs/TRAINING.md): which one a run follows is chosen by what it starts
/// from, and recorded with every value it set.
constexpr const char* kRecipeHyperRule = "hyperrule"; ///< BiT-HyperRule: for BiT and other ImageNet-class weights
constexpr const char* kRecipeAdamW = "adamw";         ///< AdamW, cosine, augmentation, balanced classes: random init, SimSiam runs

/// Supervised training of a classifier: BiT fine-tuning, or "upstream" training of a transfer
/// source on any labeled project. A configuration without the newer keys (an older run) reads as
/// the HyperRule with SGD, which is what such runs did.
struct FinetuneConfig {
    ModelConfig model;            ///< backbone with numClasses = the project's classes
    std::string initWeights;      ///< BiT .npz, timm/torchvision, or a medsiam checkpoint (e.g. a SimSiam run)
    std::string recipe = kRecipeHyperRule;
    int64_t steps = 0;            ///< 0: the HyperRule's; otherwise the rule's schedule scaled to this length.
                                  ///< With a budget: the latest plan (0 before the run has measured its speed)
    double budgetSeconds = 0;     ///< > 0: train for this long (see train/Budget.h), sizing the steps to it
    std::string optimizer = "sgd";///< "sgd" (momentum) or "adamw"
    std::string schedule = "steps"; ///< "steps": the HyperRule's warmup and x0.1 decays; "cosine": warmup, then cosine to 0
    double warmupFraction = 0.05; ///< cosine: the fraction of the run that warms up
    int batch = 512;              ///< the effective batch; reached by micro-batches when larger than microBatch
    int microBatch = 64;
    int resize = 0, crop = 0;     ///< 0: the HyperRule's (capped by the cache resolution)
    double lr = 0.003;            ///< hyperrule: for batch 512, scaled linearly with the batch; adamw: as given
    double momentum = 0.9;
    double weightDecay = 0;
    double mixupAlpha = -1;       ///< < 0: the HyperRule's
    bool classWeighted = false;   ///< loss weighted by inverse class frequency
    bool balancedSampler = false; ///< draw classes equally often
    std::string subset;           ///< "", "a" or "b": one deterministic half of the labeled train images
    uint64_t seed = 0;
    bool bf16 = false;
    bool cuda = false;
    int64_t checkpointEvery = 50;
    int64_t evalEvery = 0;        ///< validation every N steps; 0: `validations` times per run
    int validations = 10;         ///< validation passes per run when evalEvery is 0
    double labelSmoothing = 0;    ///< cross-entropy label smoothing (0: none)
    std::optional<AugmentConfig> augment; ///< unset: BiT's (resize, random square crop, flip)

    std::string toJson() const;
    static FinetuneConfig fromJson(const std::string& json);
};

/// Deterministic membership of an image in half "a" or "b" of a set (by image id), for chains
/// such as supervised upstream on one half and SimSiam on the other; "" keeps every image.
bool inSubset(int64_t imageId, const std::string& subset);

} // namespace medsiam::core
