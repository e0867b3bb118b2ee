#pragma once
// SimSiam's augmentation on the CPU, in plain C++ (no LibTorch): random resized crop, flip,
// colour jitter, grayscale and Gaussian blur, then the network's input normalization. Each
// sample's randomness comes from (seed, step, sample, view) alone, so a resumed run draws the
// same views as an uninterrupted one, whatever the thread count.
#include "models/ModelConfig.h"

#include <cstdint>
#include <string>
#include <vector>

namespace medsiam::core {

struct AugmentConfig {
    bool crop = true;
    double cropScaleMin = 0.2, cropScaleMax = 1.0;
    double cropRatioMin = 3.0 / 4.0, cropRatioMax = 4.0 / 3.0; ///< aspect ratio range of the crop
    bool flip = true;
    bool colorJitter = true;
    double jitterProbability = 0.8;
    double brightness = 0.4, contrast = 0.4, saturation = 0.4, hue = 0.1; ///< saturation and hue: RGB only
    bool grayscale = true;
    double grayscaleProbability = 0.2; ///< RGB only
    bool blur = true;
    double blurProbability = 0.5;
    double blurSigmaMin = 0.1, blurSigmaMax = 2.0; ///< in pixels at 224 px, scaled to the output size

    std::string toJson() const;
    static AugmentConfig fromJson(const std::string& json);
    /// Everything off: a plain resize (evaluation, feature extraction).
    static AugmentConfig none();
    /// BiT's fine-tuning augmentation: resize to `resize`, random `crop` x `crop` square, flip.
    static AugmentConfig bitFinetune(int resize, int crop);
};

/// How pixel values become network inputs.
enum class InputNormalization {
    MinusOneToOne, ///< x / 127.5 - 1 (BiT)
    ImageNet,      ///< (x / 255 - mean) / std with ImageNet statistics (BatchNorm ResNets)
};

/// The normalization a backbone was trained with: [-1, 1] for ResNet-v2 (BiT), ImageNet
/// statistics for the BatchNorm ResNet v1.
InputNormalization inputNormalizationFor(const BackboneConfig& backbone);

/// One view's random choices, drawn from (config, seed) alone: what augmentImage applies, and
/// what the batched tensor path (data/TensorAugment) applies on the training device, so that
/// both give the same view of the same sample.
struct AugmentParams {
    double cropX = 0, cropY = 0, cropW = 0, cropH = 0; ///< in source pixels
    bool flip = false;
    bool jitter = false;
    float brightness = 1, contrast = 1, saturation = 1; ///< multipliers (saturation: colour sources)
    double hueTurn = 0;                                 ///< radians (colour sources)
    bool grayscale = false;                             ///< colour sources
    bool blur = false;
    double blurSigma = 0; ///< in output pixels
    /// The blur kernel's radius in output pixels (0 without blur).
    int blurRadius() const;
    /// The normalized Gaussian kernel, 2 * blurRadius() + 1 taps (empty without blur).
    std::vector<float> blurKernel() const;
};

/// One axis of the crop's bilinear resample: output index `i` of a crop starting at `start`
/// with `step` source pixels per output pixel reads source pixels lo and hi (clamped to the
/// side) with weight w on hi. Pixel centres are aligned.
struct BilinearTap {
    int lo = 0, hi = 0;
    float w = 0;
};
BilinearTap bilinearTap(double start, double step, int i, int side);

/// Draws a view's choices for a side x side source with srcChannels channels, resampled to
/// outSize, in the order augmentImage has always drawn them.
AugmentParams drawAugmentParams(const AugmentConfig& config, int side, int srcChannels, int outSize, uint64_t seed);

/// Applies `params` to one side x side x srcChannels uint8 image, writing outChannels x outSize
/// x outSize floats (planar) into `out`.
void applyAugment(const uint8_t* src, int side, int srcChannels, float* out, int outSize, int outChannels, const AugmentParams& params,
                  InputNormalization norm);

/// Writes one augmented view of a side x side x srcChannels uint8 image into `out`
/// (outChannels x outSize x outSize floats, planar). Gray sources are replicated when
/// outChannels is 3; colour sources are averaged to luminance when outChannels is 1.
void augmentImage(const uint8_t* src, int side, int srcChannels, float* out, int outSize, int outChannels,
                  const AugmentConfig& config, InputNormalization norm, uint64_t seed);

/// A seed for (run seed, step, sample, view), mixed with splitmix64.
uint64_t augmentSeed(uint64_t runSeed, int64_t step, int64_t sample, int view);

} // namespace medsiam::core
