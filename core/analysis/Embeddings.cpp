#include "analysis/Embeddings.h"

#include "models/Checkpoint.h"
#include "project/Project.h"
#include "project/RunStore.h"
#include "train/Features.h"
#include "train/FinetuneJob.h"
#include "train/PretrainJob.h"
#include "util/AtomicFile.h"
#include "util/Csv.h"
#include "util/Error.h"

#include <ATen/ATen.h>

#include <cstdio>
#include <cstring>
#include <map>

namespace medsiam::core {

EmbeddingSet computeEmbeddings(Project& project, const std::string& runId, int inputSize, bool bf16)
{
    RunStore store(project);
    TrainingState state;
    Network net = loadNetwork(store.selectedCheckpoint(runId), &state);
    ImageSet data(project);
    std::vector<int64_t> all(data.cache().size());
    for (size_t i = 0; i < all.size(); ++i)
        all[i] = static_cast<int64_t>(i);
    const auto norm = inputNormalizationFor(net->config().backbone);
    const at::Tensor v = extractFeatures(*net, data.cache(), all, inputSize, norm, bf16).contiguous();
    EmbeddingSet set;
    set.runId = runId;
    set.checkpointStep = state.step;
    set.inputSize = inputSize;
    set.dims = v.size(1);
    set.vectors.assign(v.data_ptr<float>(), v.data_ptr<float>() + v.numel());
    for (const auto& item : data.items())
        set.imageIds.push_back(item.imageId);
    store.saveEmbeddings(set);
    return set;
}

int runInputSize(Project& project, const std::string& runId)
{
    const auto run = RunStore(project).find(runId);
    if (run && run->kind == "finetune")
        return evaluationSize(project, runId); // the crop, the HyperRule's when the run left it open
    if (run && run->kind == "simsiam-pretrain")
        return PretrainConfig::fromJson(run->config).inputSize;
    return 64;
}

std::map<int64_t, std::pair<std::string, std::string>> splitAndClassById(Project& project)
{
    std::map<int64_t, std::pair<std::string, std::string>> out;
    const auto classes = project.classes();
    for (const auto& item : project.trainingItems())
        out[item.imageId] = {item.split, item.classIndex >= 0 ? classes[static_cast<size_t>(item.classIndex)].name : ""};
    return out;
}

void writeEmbeddingsCsv(Project& project, const EmbeddingSet& set, const std::string& path)
{
    auto meta = splitAndClassById(project);
    std::string out = "image_id,split,class";
    const int64_t d = set.dims;
    for (int64_t k = 0; k < d; ++k)
        out += ",f" + std::to_string(k);
    out += "\n";
    const float* v = set.vectors.data();
    char buf[32];
    for (size_t i = 0; i < set.imageIds.size(); ++i) {
        const auto& m = meta[set.imageIds[i]];
        out += std::to_string(set.imageIds[i]) + "," + csvField(m.first) + "," + csvField(m.second);
        for (int64_t k = 0; k < d; ++k) {
            std::snprintf(buf, sizeof buf, ",%.6g", v[static_cast<int64_t>(i) * d + k]);
            out += buf;
        }
        out += "\n";
    }
    writeFileAtomically(path, out);
}

} // namespace medsiam::core
