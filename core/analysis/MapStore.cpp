#include "analysis/MapStore.h"

#include "io/NpyArray.h"
#include "project/Project.h"

#include <filesystem>

namespace medsiam::core {

std::string mapLayoutPath(const Project& project, const std::string& runId, bool pca)
{
    return runDir(project, runId) + (pca ? "/pca.npy" : "/tsne.npy");
}

void saveMapLayout(const Project& project, const std::string& runId, bool pca, const std::vector<float>& layout)
{
    saveFloatNpy(mapLayoutPath(project, runId, pca), layout.data(), {static_cast<int64_t>(layout.size() / 2), 2});
}

std::optional<StoredMap> loadMapLayout(const Project& project, const std::string& runId, bool pca)
{
    const std::string path = mapLayoutPath(project, runId, pca), idsPath = runDir(project, runId) + "/embedding_ids.npy";
    if (!std::filesystem::exists(path))
        return std::nullopt;
    const NpyArray xy = loadNpyFile(path), ids = loadNpyFile(idsPath);
    StoredMap map;
    if (ids.shape.size() != 1 || xy.shape.size() != 2 || xy.shape[1] != 2 || xy.shape[0] != ids.shape[0]) {
        map.stale = true;
        return map;
    }
    map.imageIds.resize(static_cast<size_t>(ids.shape[0]));
    for (int64_t i = 0; i < ids.shape[0]; ++i)
        map.imageIds[static_cast<size_t>(i)] = ids.asInt(i);
    map.layout.resize(static_cast<size_t>(xy.elementCount()));
    for (int64_t i = 0; i < xy.elementCount(); ++i)
        map.layout[static_cast<size_t>(i)] = static_cast<float>(xy.asDouble(i));
    return map;
}

} // namespace medsiam::core
