#pragma once
// A run's stored 2-D maps of its embeddings: runs/<id>/tsne.npy or pca.npy (N x 2 float32), whose
// rows follow runs/<id>/embedding_ids.npy. Written by `medsiam-cli tsne` and the desktop map,
// read by the map and `report`. No LibTorch.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace medsiam::core {

class Project;

/// runs/<id>/tsne.npy, or pca.npy with `pca`.
std::string mapLayoutPath(const Project& project, const std::string& runId, bool pca);

/// Stores an N x 2 layout (x, y per row) as the run's t-SNE or PCA map.
void saveMapLayout(const Project& project, const std::string& runId, bool pca, const std::vector<float>& layout);

struct StoredMap {
    std::vector<int64_t> imageIds; ///< one per row
    std::vector<float> layout;     ///< N x 2
    /// The map's rows no longer match the stored embeddings (they were computed again since);
    /// imageIds and layout are then empty.
    bool stale = false;
};

/// The run's stored map with the image id of each row; nullopt when it has none. Throws
/// UserError when the map or the embeddings' ids cannot be read.
std::optional<StoredMap> loadMapLayout(const Project& project, const std::string& runId, bool pca);

} // namespace medsiam::core
