#include "analysis/Embeddings.h"

#include "io/NpyArray.h"
#include "models/Checkpoint.h"
#include "project/Project.h"
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
    const std::string ckpt = lastCheckpoint(project, runId);
    const std::string dir = runDir(project, runId);
    TrainingState state;
    Network net = loadNetwork(ckpt, &state);
    ImageSet data(project);
    std::vector<int64_t> all(data.cache().size());
    for (size_t i = 0; i < all.size(); ++i)
        all[i] = static_cast<int64_t>(i);
    const auto norm = inputNormalizationFor(net->config().backbone);
    EmbeddingSet set;
    set.runId = runId;
    set.checkpointStep = state.step;
    set.inputSize = inputSize;
    set.vectors = extractFeatures(*net, data.cache(), all, inputSize, norm, bf16).contiguous();
    for (const auto& item : data.items())
        set.imageIds.push_back(item.imageId);
    const int64_t n = set.vectors.size(0), d = set.vectors.size(1);
    saveFloatNpy(dir + "/embeddings.npy", set.vectors.data_ptr<float>(), {n, d});
    NpyArray ids;
    ids.kind = 'i';
    ids.itemSize = 8;
    ids.shape = {n};
    ids.data.resize(static_cast<size_t>(n) * 8);
    std::memcpy(ids.data.data(), set.imageIds.data(), ids.data.size());
    saveNpyFile(dir + "/embedding_ids.npy", ids);
    project.db()
        .prepare("INSERT INTO embeddings(run_id,checkpoint_step,count,dim,input_size) VALUES(?,?,?,?,?) ON CONFLICT(run_id) DO "
                 "UPDATE SET checkpoint_step=excluded.checkpoint_step, count=excluded.count, dim=excluded.dim, "
                 "input_size=excluded.input_size, created_at=datetime('now')")
        .bind(1, runId)
        .bind(2, set.checkpointStep)
        .bind(3, n)
        .bind(4, d)
        .bind(5, inputSize)
        .run();
    return set;
}

EmbeddingSet loadEmbeddings(Project& project, const std::string& runId)
{
    auto s = project.db().prepare("SELECT checkpoint_step, input_size FROM embeddings WHERE run_id=?");
    s.bind(1, runId);
    if (!s.step())
        throw UserError("run '" + runId + "' has no stored embeddings; compute them with `medsiam-cli embed " + project.dir() +
                        " " + runId + "`");
    EmbeddingSet set;
    set.runId = runId;
    set.checkpointStep = s.columnInt(0);
    set.inputSize = static_cast<int>(s.columnInt(1));
    const std::string dir = runDir(project, runId);
    NpyArray v = loadNpyFile(dir + "/embeddings.npy"), ids = loadNpyFile(dir + "/embedding_ids.npy");
    if (v.shape.size() != 2 || v.kind != 'f' || v.itemSize != 4 || ids.shape.size() != 1 || ids.shape[0] != v.shape[0])
        throw UserError("the stored embeddings of run '" + runId + "' are damaged; compute them again with `medsiam-cli embed`");
    set.vectors = at::empty({v.shape[0], v.shape[1]}, at::kFloat);
    std::memcpy(set.vectors.data_ptr<float>(), v.data.data(), v.data.size());
    for (int64_t i = 0; i < ids.shape[0]; ++i)
        set.imageIds.push_back(ids.asInt(i));
    return set;
}

int runInputSize(Project& project, const std::string& runId)
{
    const auto run = project.run(runId);
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
    const int64_t d = set.vectors.size(1);
    for (int64_t k = 0; k < d; ++k)
        out += ",f" + std::to_string(k);
    out += "\n";
    const float* v = set.vectors.data_ptr<float>();
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
