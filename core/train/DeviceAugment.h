#pragma once
// SimSiam's augmentation as batched tensor operations on the training device: the same views as
// the CPU path (data/Augment), from the same per-sample choices (drawAugmentParams), computed on
// a uint8 batch that was copied there once. On a GPU this keeps the augmentation off the CPU;
// on the CPU it is one more way to compute the same thing (bench/device_augment.sh compares).
#include "data/Augment.h"
#include "data/ImageCache.h"

#include <ATen/core/Tensor.h>

#include <vector>

namespace medsiam::core {

/// Applies params[b] to sample b of `pixels`, a uint8 [B, side, side, 1 or 3] tensor on any
/// device. With three channels, `colour[b]` says whether sample b is a colour image (a grey one
/// in a batch with colour ones is stored as three equal channels; its params were drawn for one
/// channel). Returns float [B, outChannels, outSize, outSize] on the same device, normalized as
/// applyAugment does, and equal to it up to float rounding (the same taps, kernels and clamps).
at::Tensor augmentBatch(const at::Tensor& pixels, const std::vector<AugmentParams>& params, const std::vector<bool>& colour,
                        int outSize, int outChannels, InputNormalization norm);

/// The uint8 pixels of the cache entries as [N, side, side, channels] (3 when any entry is a
/// colour image, grey ones replicated; else 1), in pinned memory when `pinned` (for a
/// non-blocking copy to a GPU). `colour` gets, per entry, whether it is a colour image.
at::Tensor gatherPixels(const ImageCache& cache, const std::vector<int64_t>& indices, bool pinned, std::vector<bool>* colour);

/// makeBatch (train/Features.h) with the augmentation on `device`: the same views, seeded the same
/// way; the uint8 pixels travel to the device and the floats are made there.
at::Tensor makeBatchOnDevice(const ImageCache& cache, const std::vector<int64_t>& indices, int size, int channels,
                             const AugmentConfig& augment, InputNormalization norm, uint64_t runSeed, int64_t step, int view,
                             const at::Device& device, int64_t sampleOffset = 0);

/// The host's share of a training batch, made before the device takes over (and made ahead of
/// its step by a Prefetcher): for a GPU, the uint8 pixels in pinned memory and each sample's
/// choices; for the CPU, the finished float batch (makeBatch's per-sample threads).
struct HostBatch {
    at::Tensor pixels;                  ///< uint8 [B, side, side, c] for a GPU; the float batch for the CPU
    std::vector<AugmentParams> params;  ///< a GPU's: one set of choices per sample
    std::vector<bool> colour;           ///< a GPU's: which samples are colour images
};

HostBatch prepareTrainingBatch(const ImageCache& cache, const std::vector<int64_t>& indices, int size, int channels,
                               const AugmentConfig& augment, InputNormalization norm, uint64_t runSeed, int64_t step, int view,
                               const at::Device& device, int64_t sampleOffset = 0);

/// The batch on `device`: on a GPU the pixels travel without blocking and the augmentation runs
/// there (channels-last, as toDevice gives it); on the CPU, the prepared floats as they are.
at::Tensor finishTrainingBatch(HostBatch host, int size, int channels, InputNormalization norm, const at::Device& device);

/// finishTrainingBatch(prepareTrainingBatch(...)): a training batch on `device`, made now.
at::Tensor makeTrainingBatch(const ImageCache& cache, const std::vector<int64_t>& indices, int size, int channels,
                             const AugmentConfig& augment, InputNormalization norm, uint64_t runSeed, int64_t step, int view,
                             const at::Device& device, int64_t sampleOffset = 0);

} // namespace medsiam::core
