#pragma once
// A run's 2-D map of its images: its embeddings (stored, or computed with its last checkpoint)
// and their t-SNE or PCA layout, which is stored with the run. The desktop map and
// `medsiam-cli tsne` both come here. No LibTorch in this header.
#include "project/RunStore.h"
#include "util/CancelToken.h"

#include <functional>
#include <string>
#include <vector>

namespace medsiam::core {

struct MapRequest {
    std::string runId;
    bool pca = false;
    double perplexity = 30;
    int iterations = 1000;
    int exactMaxPoints = 1500;    ///< t-SNE: the exact gradient up to this many points
    bool recomputeEmbeddings = false; ///< even when the run has stored embeddings
    int inputSize = 0;            ///< for computed embeddings; 0: the run's own (runInputSize)
    bool bf16 = false;
    bool cuda = false;            ///< t-SNE on the GPU
    uint64_t seed = 0;
    int progressEvery = 5;        ///< t-SNE iterations between layout reports
};

/// What a map computation is doing, reported as it goes.
struct MapEvent {
    enum class Kind { ComputingEmbeddings, EmbeddingsReady, Neighbours, Layout } kind = Kind::Layout;
    int inputSize = 0;                ///< ComputingEmbeddings
    const EmbeddingSet* embeddings = nullptr; ///< EmbeddingsReady: the points, in the order of every layout
    const float* layout = nullptr;    ///< Layout: N x 2, valid during the call
    int64_t points = 0;               ///< Layout: N
    int iteration = 0, iterations = 0;
    double kl = -1;
};

struct MapResult {
    EmbeddingSet embeddings;
    bool embeddingsComputed = false; ///< computed now (none were stored, or asked to)
    std::vector<float> layout;       ///< N x 2; the last one reached when cancelled
    bool cancelled = false;
    bool exact = false;              ///< t-SNE with the exact gradient
    int iterations = 0;
    double kl = 0;
    double seconds = 0;
    /// "t-SNE of 5,030 images, 1000 iterations in 1.2 s, KL 1.234" or "PCA map of ...".
    std::string summary() const;
};

/// Loads (or computes, when the run has none or `recomputeEmbeddings`) the run's embeddings,
/// maps them, and stores the map with the run unless cancelled. Throws UserError.
MapResult computeMap(Project& project, const MapRequest& request, const std::function<void(const MapEvent&)>& progress = {},
                     const CancelToken* cancel = nullptr);

} // namespace medsiam::core
