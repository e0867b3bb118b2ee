#pragma once
// t-SNE and PCA maps of embeddings (LibTorch for the neighbour search, PCA and FFTs).
//
// t-SNE follows van der Maaten's formulation with scikit-learn's optimizer settings (PCA
// initialization scaled to std 1e-4, learning rate max(N / 48, 50), early exaggeration 12 for
// 250 iterations with momentum 0.5, then momentum 0.8, gains). The repulsive forces are computed
// exactly for small N and, above `exactMaxPoints`, by FFT-accelerated interpolation onto a grid
// (Linderman et al., 2019: 3 Lagrange nodes per box, the kernel applied by FFT convolution).
// The affinities use the 3 x perplexity nearest neighbours, found exactly by matrix products.
#include "util/CancelToken.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace medsiam::core {

struct TsneConfig {
    double perplexity = 30;
    int iterations = 1000;
    int earlyExaggerationIterations = 250;
    double earlyExaggeration = 12;
    double learningRate = 0;    ///< 0: max(N / earlyExaggeration / 4, 50)
    uint64_t seed = 0;          ///< used when PCA cannot initialize (fewer than 2 dimensions)
    int exactMaxPoints = 1500;  ///< exact gradient (dense affinities) up to this many points
    int exactNeighboursMaxPoints = 20000; ///< exact neighbour search up to this many points, HNSW above
    bool forceApproximate = false;
    int progressEvery = 50;     ///< iterations between progress callbacks (with the layout)
    int minBoxes = 20;          ///< FFT grid: at least this many boxes across the map
    double boxesPerUnit = 0.5;  ///< and boxes no wider than 1 / boxesPerUnit map units
    /// Run the neighbour search and the iterations on the GPU (exact neighbours by matrix
    /// products at any N there). Throws UserError when no CUDA device is available.
    bool useCuda = false;
    /// The GPU's tensor-operation path, run on the CPU (slower than the CPU loops; for tests).
    bool tensorOps = false;
};

struct TsneProgress {
    int iteration = 0;
    int iterations = 0;
    double kl = -1;           ///< KL divergence when computed (every progressEvery iterations), else -1
    const float* layout = nullptr; ///< N x 2, valid during the callback
    int64_t points = 0;
};

struct TsneResult {
    std::vector<float> layout; ///< N x 2
    double kl = 0;
    int iterations = 0;
    bool cancelled = false;
    bool exact = false;
    double seconds = 0;
};

/// Embeds the rows of `x` (N x D float) in 2-D. Cancel is checked every iteration; a cancelled
/// run returns the layout it had reached. Throws UserError for N < 4 or a perplexity too large
/// for N.
TsneResult runTsne(const at::Tensor& x, const TsneConfig& config, const std::function<void(const TsneProgress&)>& progress = {},
                   const CancelToken* cancel = nullptr);

/// The first two principal components of the rows of `x` (N x 2), the instant alternative.
std::vector<float> pcaMap(const at::Tensor& x);

/// Indices of the k nearest neighbours (Euclidean, self excluded) of every row, N x k, exact,
/// by blocked matrix products; squared distances in `distances` when given.
at::Tensor nearestNeighbours(const at::Tensor& x, int k, at::Tensor* distances = nullptr);

/// The same by an HNSW graph (hnswlib; M 16, ef 200 at construction, ef max(2k, 100) when
/// searching): approximate, much faster for large N. Falls back to the exact search when medsiam
/// was built without hnswlib.
at::Tensor approximateNeighbours(const at::Tensor& x, int k, at::Tensor* distances = nullptr);

} // namespace medsiam::core
