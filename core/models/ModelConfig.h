#pragma once
// Model configurations: plain data, no LibTorch, so that the GUI and the project store can list,
// show and save them without loading the engine.
#include <cstdint>
#include <string>
#include <vector>

namespace medsiam::core {

enum class BackboneArch { ResNetV2, ResNetV1 };

/// Backbone normalization (ResNet-v2 only; the classic ResNet v1 always uses BatchNorm).
enum class BackboneNorm {
    GnWs, ///< GroupNorm + weight-standardized convs: BiT as published
    BnWs, ///< BatchNorm + weight-standardized convs: the choice of Lu, Jha and Huo (2021)
    Bn,   ///< BatchNorm + plain convs: a plain pre-activation ResNet-v2
};

/// The first layer. ImageNet networks shrink the input 4x at once (7x7 stride-2 conv, 3x3 stride-2
/// max-pool); networks for small images (CIFAR, MedMNIST's 28 px ResNets) keep full resolution
/// (one 3x3 stride-1 conv, no pooling), at 16x the cost per pixel.
enum class BackboneStem { ImageNet, Cifar };

/// Normalization inside the SimSiam projector and predictor.
enum class HeadNorm { Bn, Gn, Ln, None };

const char* toString(BackboneArch arch);
const char* toString(BackboneNorm norm);
const char* toString(HeadNorm norm);
const char* toString(BackboneStem stem);
/// "imagenet" or "cifar"; throws UserError listing both.
BackboneStem parseBackboneStem(const std::string& text);
/// Parse the spellings used on the command line and in config files ("gn_ws", "bn_ws", "bn"; "bn",
/// "gn", "ln", "none"). Throw UserError listing the accepted values.
BackboneNorm parseBackboneNorm(const std::string& text);
HeadNorm parseHeadNorm(const std::string& text);

struct BackboneConfig {
    std::string name = "custom"; ///< preset it came from, e.g. "bit-r50x1"
    BackboneArch arch = BackboneArch::ResNetV2;
    std::vector<int> layers;   ///< units (blocks) per stage
    std::vector<int> channels; ///< output channels per stage (bottleneck width = channels / 4)
    bool bottleneck = true;    ///< v1 only: bottleneck (ResNet-50) or basic (ResNet-18) blocks
    int stemChannels = 64;
    BackboneStem stem = BackboneStem::ImageNet;
    BackboneNorm norm = BackboneNorm::GnWs;
    int gnGroups = 32;
    double gnEps = 1e-5;
    double wsEps = 1e-8;       ///< timm's BiT uses 1e-8; the original BiT code 1e-10
    double bnEps = 1e-5;
    double bnMomentum = 0.1;
    int inChannels = 3;        ///< 1 (grayscale) or 3
    int numClasses = 0;        ///< classification head outputs; 0: no head

    /// Output features of the backbone (after the final norm and pooling).
    int featureDim() const;
    bool weightStandardized() const { return arch == BackboneArch::ResNetV2 && norm != BackboneNorm::Bn; }
    bool groupNorm() const { return arch == BackboneArch::ResNetV2 && norm == BackboneNorm::GnWs; }
    /// Throws UserError when the numbers do not make a network (e.g. channels not divisible by
    /// the GroupNorm groups).
    void validate() const;
    /// Trainable parameters, computed from the numbers alone (no network is built): with and
    /// without the classification head.
    int64_t parameterCount(bool withHead = true) const;
    /// Spatial size after the stem and after each stage, for a square input of `inputSize` px.
    std::vector<int> featureMapSizes(int inputSize) const;
};

struct SimSiamHeadConfig {
    int projectorLayers = 3;  ///< 2 or 3
    int projectorDim = 2048;  ///< output (and hidden) dimension of the projector
    int predictorHidden = 512;
    HeadNorm norm = HeadNorm::Bn;
    void validate() const;
};

/// A whole network: the backbone plus, for SimSiam, the projector and predictor.
struct ModelConfig {
    BackboneConfig backbone;
    bool simsiamHeads = false;
    SimSiamHeadConfig heads;

    std::string toJson() const;
    /// Throws UserError naming the field at fault.
    static ModelConfig fromJson(const std::string& json);
};

struct BackbonePreset {
    std::string name;
    std::string description;
};

/// Every named backbone: BiT-R26/50/101/152 x1..x4, the small CPU configurations, and the
/// classic ResNet-18/50.
std::vector<BackbonePreset> backbonePresets();
/// The named configuration; throws UserError listing the names when it is unknown.
BackboneConfig backbonePreset(const std::string& name);
/// SimSiam head sizes that suit the backbone: the paper's 2048/512 for full-size networks,
/// scaled down for the small CPU configurations.
SimSiamHeadConfig defaultHeads(const BackboneConfig& backbone);

} // namespace medsiam::core
