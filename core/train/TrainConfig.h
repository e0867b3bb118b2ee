#pragma once
// Settings of the training jobs, as stored in runs/<id>/config.json. No LibTorch here.
#include "data/Augment.h"
#include "models/ModelConfig.h"

#include <cstdint>
#include <string>

namespace medsiam::core {

struct PretrainConfig {
    ModelConfig model;            ///< backbone + SimSiam heads
    std::string initWeights;      ///< BiT .npz, timm/torchvision weights or a medsiam checkpoint; empty: random
    int64_t steps = 300;
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
    AugmentConfig augment;

    std::string toJson() const;
    static PretrainConfig fromJson(const std::string& json);
    InputNormalization normalization() const;
};

} // namespace medsiam::core
