#include "analysis/Maps.h"

#include "analysis/Embeddings.h"
#include "analysis/Tsne.h"
#include "util/Error.h"

#include <ATen/ATen.h>

#include <cstdio>

namespace medsiam::core {

std::string MapResult::summary() const
{
    char buf[160];
    if (iterations == 0)
        std::snprintf(buf, sizeof buf, "PCA map of %lld images", static_cast<long long>(embeddings.count()));
    else
        std::snprintf(buf, sizeof buf, "t-SNE of %lld images (%s), %d iterations in %.1f s, KL %.3f",
                      static_cast<long long>(embeddings.count()), exact ? "exact" : "FFT-accelerated", iterations, seconds, kl);
    return buf;
}

MapResult computeMap(Project& project, const MapRequest& request, const std::function<void(const MapEvent&)>& progress,
                     const CancelToken* cancel)
{
    RunStore store(project);
    store.require(request.runId);
    MapResult result;
    if (!request.recomputeEmbeddings && store.hasEmbeddings(request.runId)) {
        result.embeddings = store.loadEmbeddings(request.runId);
    } else {
        const int size = request.inputSize > 0 ? request.inputSize : runInputSize(project, request.runId);
        if (progress) {
            MapEvent e;
            e.kind = MapEvent::Kind::ComputingEmbeddings;
            e.inputSize = size;
            progress(e);
        }
        result.embeddings = computeEmbeddings(project, request.runId, size, request.bf16);
        result.embeddingsComputed = true;
    }
    const EmbeddingSet& set = result.embeddings;
    if (progress) {
        MapEvent e;
        e.kind = MapEvent::Kind::EmbeddingsReady;
        e.embeddings = &set;
        progress(e);
    }
    if (cancel && cancel->stopRequested()) {
        result.cancelled = true;
        return result;
    }
    const at::Tensor x = at::from_blob(const_cast<float*>(set.vectors.data()), {set.count(), set.dims}, at::kFloat);
    if (request.pca) {
        result.layout = pcaMap(x);
        store.saveMap(request.runId, true, result.layout);
        return result;
    }
    if (progress) {
        MapEvent e;
        e.kind = MapEvent::Kind::Neighbours;
        progress(e);
    }
    TsneConfig c;
    c.perplexity = request.perplexity;
    c.iterations = request.iterations;
    c.exactMaxPoints = request.exactMaxPoints;
    c.seed = request.seed;
    c.useCuda = request.cuda;
    c.progressEvery = request.progressEvery;
    const TsneResult r = runTsne(
        x, c,
        [&](const TsneProgress& p) {
            if (!progress)
                return;
            MapEvent e;
            e.kind = MapEvent::Kind::Layout;
            e.layout = p.layout;
            e.points = p.points;
            e.iteration = p.iteration;
            e.iterations = p.iterations;
            e.kl = p.kl;
            progress(e);
        },
        cancel);
    result.layout = r.layout;
    result.cancelled = r.cancelled;
    result.exact = r.exact;
    result.iterations = r.iterations;
    result.kl = r.kl;
    result.seconds = r.seconds;
    if (!result.cancelled)
        store.saveMap(request.runId, false, result.layout);
    return result;
}

} // namespace medsiam::core
