#pragma once
// Batches from a project's image cache, feature extraction and the kNN monitor (LibTorch).
#include "eval/Metrics.h"
#include "data/Augment.h"
#include "data/ImageCache.h"
#include "models/Network.h"
#include "project/Project.h"

#include <ATen/core/Tensor.h>

#include <memory>
#include <vector>

namespace medsiam::core {

/// A project's images at the cache resolution, with their classes and splits.
class ImageSet {
public:
    explicit ImageSet(Project& project);
    const ImageCache& cache() const { return *m_cache; }
    const std::vector<TrainingItem>& items() const { return m_items; }
    const std::vector<std::string>& classNames() const { return m_classNames; }
    /// Cache indices of the images whose split is `split` ("" for no split) and, when
    /// `labeledOnly`, that have a class.
    /// `subset` "a" or "b" keeps one deterministic half of them (see inSubset); "" keeps all.
    std::vector<int64_t> indices(const std::string& split, bool labeledOnly, const std::string& subset = "") const;
    /// Cache indices usable for self-supervised pretraining: every image outside val and test.
    std::vector<int64_t> pretrainIndices(const std::string& subset = "") const;
    int classOf(int64_t cacheIndex) const { return m_items[static_cast<size_t>(cacheIndex)].classIndex; }

private:
    std::unique_ptr<ImageCache> m_cache;
    std::vector<TrainingItem> m_items; ///< parallel to the cache entries
    std::vector<std::string> m_classNames;
};

/// A float batch [N, channels, size, size] of the given cache entries: augmented views (seeded by
/// runSeed, step, position in the batch and view) or, with AugmentConfig::none(), plain resizes.
/// `sampleOffset` is added to each sample's position for its seed (micro-batches of one batch).
at::Tensor makeBatch(const ImageCache& cache, const std::vector<int64_t>& indices, int size, int channels,
                     const AugmentConfig& augment, InputNormalization norm, uint64_t runSeed, int64_t step, int view,
                     int64_t sampleOffset = 0);

/// Backbone features [N, featureDim] (CPU float) of the entries, in eval mode, no augmentation.
at::Tensor extractFeatures(NetworkImpl& network, const ImageCache& cache, const std::vector<int64_t>& indices, int size,
                           InputNormalization norm, bool bf16, int batch = 128);

class ProcessGroup;

/// extractFeatures shared out over a data-parallel group: each rank extracts a contiguous slice
/// of `indices`, and every rank returns all the rows, in order (exact: each row is summed with
/// the other ranks' zeros). Every rank calls it with the same indices. `group` null: alone.
at::Tensor extractFeaturesTogether(ProcessGroup* group, NetworkImpl& network, const ImageCache& cache, const std::vector<int64_t>& indices,
                                   int size, InputNormalization norm, bool bf16);

/// Weighted kNN (cosine similarity, k neighbours, weights exp(sim / 0.1)) of `queries` against
/// `bank`; returns per-class scores [Q, classes] as metrics input.
std::vector<float> knnScores(const at::Tensor& bank, const std::vector<int>& bankLabels, const at::Tensor& queries,
                             int numClasses, int k = 20);

} // namespace medsiam::core
