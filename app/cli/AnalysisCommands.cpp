// medsiam-cli tsne (run by medsiam-cli-engine)
#include "ArgParser.h"
#include "Commands.h"
#include "ProgressLine.h"

#include "analysis/Embeddings.h"
#include "analysis/Maps.h"
#include "analysis/GradCam.h"
#include "image/Png.h"
#include "models/Checkpoint.h"
#include "train/Features.h"
#include "train/FinetuneJob.h"
#include "analysis/Suggestions.h"
#include "analysis/Tsne.h"
#include "project/Project.h"
#include "train/PretrainJob.h"
#include "util/Csv.h"
#include "io/NpyArray.h"
#include "system/Runtime.h"
#include "util/AtomicFile.h"
#include "util/Error.h"

#include <ATen/ATen.h>

#include <cstdio>
#include <cstring>
#include <map>

namespace medsiam::cli {

namespace {

at::Tensor readMatrix(const std::string& path)
{
    const core::NpyArray a = core::loadNpyFile(path);
    if (a.shape.size() != 2 || a.shape[0] < 1 || a.shape[1] < 1)
        throw core::UserError("'" + path + "' must hold an N x D matrix, not " + a.shapeText());
    auto t = at::empty({a.shape[0], a.shape[1]}, at::kFloat);
    float* out = t.data_ptr<float>();
    for (int64_t i = 0; i < a.elementCount(); ++i)
        out[i] = static_cast<float>(a.asDouble(i));
    if (!at::isfinite(t).all().item<bool>())
        throw core::UserError("'" + path + "' contains NaN or infinite values");
    return t;
}

void writeLayout(const std::string& path, const std::vector<float>& layout)
{
    core::saveFloatNpy(path, layout.data(), {static_cast<int64_t>(layout.size() / 2), 2});
}

} // namespace

int runTsne(const std::vector<std::string>& args)
{
    ArgParser p("medsiam-cli tsne (--project DIR --run RUN | --npy FILE --out FILE) [options]",
                "2-D t-SNE (or PCA) map of a run's embeddings, written to runs/<id>/tsne.npy (and --csv), or of the\n"
                "rows of any N x D matrix (.npy) written as an N x 2 float32 .npy. A run without stored embeddings\n"
                "gets them first, with its last checkpoint (as `embed` does).");
    p.option("project", "DIR", "project folder (with --run)")
        .option("run", "RUN", "the run whose embeddings to map")
        .option("npy", "FILE", "input matrix, N x D (.npy, any numeric dtype)")
        .option("out", "FILE", "output layout, N x 2 float32 (.npy); with --project, also stored in the run")
        .option("csv", "FILE", "also write image_id, split, class, x, y (project mode)")
        .option("perplexity", "P", "perplexity", "30")
        .option("iterations", "N", "iterations", "1000")
        .option("exact-max", "N", "use the exact gradient up to this many points", "1500")
        .option("seed", "N", "random seed (used when PCA cannot initialize)", "0")
        .option("min-boxes", "N", "FFT grid: at least N boxes across the map", "20")
        .option("boxes-per-unit", "B", "FFT grid: boxes per unit of map span, at least", "0.5")
        .option("size", "PX", "input size for embeddings computed now (default: the run's own)")
        .flag("recompute", "compute the run's embeddings again even when they are stored")
        .threadsOption()
        .flag("cuda", "run on the GPU: exact neighbours at any N and the iterations as tensor operations")
        .flag("pca", "the PCA map instead (instant)");
    if (!p.parse(args))
        return 0;
    const bool projectMode = p.has("project") || p.has("run");
    if (projectMode && (!p.has("project") || !p.has("run")))
        throw UsageError("--project and --run go together");
    if (!projectMode && (!p.has("npy") || !p.has("out")))
        throw UsageError("give --project and --run, or --npy and --out");
    core::configureThreads(p.threads());
    if (p.has("cuda") && !core::runtimeInfo().cudaAvailable)
        throw core::UserError("--cuda: no CUDA device is available to this LibTorch");
    ProgressLine line;
    auto showIteration = [&](int iteration, int iterations, double kl) {
        char buf[128];
        std::snprintf(buf, sizeof buf, "t-SNE iteration %d/%d  KL %.4f", iteration, iterations, kl);
        line.update(buf, iteration == iterations);
    };
    if (projectMode) {
        auto project = core::Project::open(p.value("project"));
        core::MapRequest r;
        r.runId = p.value("run");
        r.pca = p.has("pca");
        r.perplexity = p.doubleValue("perplexity", 1, 1000);
        r.iterations = p.intValue("iterations", 1, 100000);
        r.exactMaxPoints = p.intValue("exact-max", 0, 100000);
        r.seed = static_cast<uint64_t>(p.intValue("seed", 0, 2147483647));
        r.cuda = p.has("cuda");
        r.recomputeEmbeddings = p.has("recompute");
        r.inputSize = p.has("size") ? p.intValue("size", 16, 4096) : 0;
        r.progressEvery = 50;
        const core::MapResult m = core::computeMap(*project, r, [&](const core::MapEvent& e) {
            if (e.kind == core::MapEvent::Kind::ComputingEmbeddings)
                std::fprintf(stderr, "run %s has no stored embeddings: computing them at %d px\n", r.runId.c_str(), e.inputSize);
            else if (e.kind == core::MapEvent::Kind::Layout)
                showIteration(e.iteration, e.iterations, e.kl);
        });
        line.finish();
        const core::RunStore store(*project);
        if (p.has("out"))
            writeLayout(p.value("out"), m.layout);
        if (p.has("csv")) {
            auto meta = core::splitAndClassById(*project);
            std::string out = "image_id,split,class,x,y\n";
            char buf[64];
            for (size_t i = 0; i < m.embeddings.imageIds.size(); ++i) {
                const auto& c = meta[m.embeddings.imageIds[i]];
                std::snprintf(buf, sizeof buf, ",%.6g,%.6g\n", m.layout[2 * i], m.layout[2 * i + 1]);
                out += std::to_string(m.embeddings.imageIds[i]) + "," + core::csvField(c.first) + "," + core::csvField(c.second) + buf;
            }
            core::writeFileAtomically(p.value("csv"), out);
        }
        std::printf("%s, written to %s\n", m.summary().c_str(), store.mapPath(r.runId, r.pca).c_str());
        return 0;
    }
    const at::Tensor x = readMatrix(p.value("npy"));
    const std::string outPath = p.value("out");
    if (p.has("pca")) {
        writeLayout(outPath, core::pcaMap(x));
        std::printf("PCA map of %lld x %lld written to %s\n", static_cast<long long>(x.size(0)), static_cast<long long>(x.size(1)),
                    outPath.c_str());
        return 0;
    }
    core::TsneConfig c;
    c.perplexity = p.doubleValue("perplexity", 1, 1000);
    c.iterations = p.intValue("iterations", 1, 100000);
    c.exactMaxPoints = p.intValue("exact-max", 0, 100000);
    c.seed = static_cast<uint64_t>(p.intValue("seed", 0, 2147483647));
    c.minBoxes = p.intValue("min-boxes", 4, 1000);
    c.boxesPerUnit = p.doubleValue("boxes-per-unit", 0.05, 10);
    c.useCuda = p.has("cuda");
    const auto r = core::runTsne(x, c, [&](const core::TsneProgress& pr) { showIteration(pr.iteration, pr.iterations, pr.kl); });
    line.finish();
    writeLayout(outPath, r.layout);
    std::printf("t-SNE of %lld x %lld (%s%s) in %.2f s, KL %.4f, written to %s\n", static_cast<long long>(x.size(0)),
                static_cast<long long>(x.size(1)), r.exact ? "exact" : "FFT-accelerated", c.useCuda ? ", GPU" : "", r.seconds, r.kl,
                outPath.c_str());
    return 0;
}

int runEmbed(const std::vector<std::string>& args)
{
    ArgParser p("medsiam-cli embed PROJECT RUN [options]",
                "Computes the backbone features of every image with a run's last checkpoint and stores them in the\n"
                "project (runs/<id>/embeddings.npy and embedding_ids.npy), for `tsne` and the embedding map.");
    p.positional("PROJECT", "project folder").positional("RUN", "a pretraining or fine-tuning run");
    p.option("size", "PX", "network input size", "64")
        .option("npy", "FILE", "also write the N x D matrix to this .npy")
        .option("csv", "FILE", "also write image_id, split, class and the features as CSV (no patient data)")
        .threadsOption()
        .flag("bf16", "bf16 autocast");
    if (!p.parse(args))
        return 0;
    core::configureThreads(p.threads());
    auto project = core::Project::open(p.value("PROJECT"));
    const auto set = core::computeEmbeddings(*project, p.value("RUN"), p.intValue("size", 16, 4096), p.has("bf16"));
    if (p.has("npy"))
        core::saveFloatNpy(p.value("npy"), set.vectors.data(), {set.count(), set.dims});
    if (p.has("csv"))
        core::writeEmbeddingsCsv(*project, set, p.value("csv"));
    std::printf("embedded %lld images (%lld dimensions) with run %s at step %lld\n", static_cast<long long>(set.count()),
                static_cast<long long>(set.dims), set.runId.c_str(), static_cast<long long>(set.checkpointStep));
    return 0;
}

int runSuggest(const std::vector<std::string>& args)
{
    ArgParser p("medsiam-cli suggest PROJECT RUN [options]",
                "Suggests a class for every unlabeled image from its labeled nearest neighbours in the run's stored\n"
                "embeddings (see `embed`), with a confidence. --check first measures how well this works here: it\n"
                "hides every 5th labeled image and compares the suggestions with their labels.");
    p.positional("PROJECT", "project folder").positional("RUN", "the run whose embeddings to use");
    p.option("k", "N", "neighbours", "10")
        .option("csv", "FILE", "write image_id, suggested class, confidence")
        .option("min-confidence", "C", "list only suggestions at least this confident", "0")
        .flag("check", "measure the suggestions' accuracy on held-back labels first")
        .threadsOption();
    if (!p.parse(args))
        return 0;
    core::configureThreads(p.threads());
    auto project = core::Project::open(p.value("PROJECT"), core::ProjectAccess::ReadOnly);
    const auto set = core::RunStore(*project).loadEmbeddings(p.value("RUN"));
    const int k = p.intValue("k", 1, 1000);
    const auto classes = project->classes();
    if (p.has("check")) {
        const auto c = core::checkSuggestions(*project, set, k);
        std::printf("check on %lld held-back labeled images: suggestions %.3f accurate, majority-class guess %.3f\n",
                    static_cast<long long>(c.heldBack), c.accuracy, c.majorityAccuracy);
    }
    const auto suggestions = core::suggestLabels(*project, set, k);
    const double minConfidence = p.doubleValue("min-confidence", 0, 1);
    std::vector<int64_t> perClass(classes.size(), 0);
    std::string csv = "image_id,suggested_class,confidence\n";
    char buf[64];
    int64_t kept = 0;
    for (const auto& s : suggestions) {
        if (s.confidence < minConfidence)
            continue;
        ++kept;
        ++perClass[static_cast<size_t>(s.classIndex)];
        std::snprintf(buf, sizeof buf, ",%.4f\n", s.confidence);
        csv += std::to_string(s.imageId) + "," + core::csvField(classes[static_cast<size_t>(s.classIndex)].name) + buf;
    }
    std::printf("%lld unlabeled images, %lld suggestions at confidence >= %.2f:", static_cast<long long>(suggestions.size()),
                static_cast<long long>(kept), minConfidence);
    for (size_t c = 0; c < classes.size(); ++c)
        std::printf(" %s %lld", classes[c].name.c_str(), static_cast<long long>(perClass[c]));
    std::printf("\n");
    if (p.has("csv"))
        core::writeFileAtomically(p.value("csv"), csv);
    return 0;
}

int runGradCam(const std::vector<std::string>& args)
{
    ArgParser p("medsiam-cli gradcam PROJECT RUN --image ID --out FILE.png [options]",
                "Grad-CAM of a fine-tuned run on one image: a heatmap of the regions that drove the class score,\n"
                "written as a PNG overlay on the image (and, with --npy, as an H x W float32 array).");
    p.positional("PROJECT", "project folder").positional("RUN", "a fine-tuned (finetune) run");
    p.option("image", "ID", "image id (see the CSV exports or the GUI)")
        .option("class", "NAME", "class to explain (default: the predicted one)")
        .option("stage", "N", "activation map: 0 final, 1.. a stage's output (earlier: finer)", "0")
        .option("out", "FILE", "overlay PNG")
        .option("npy", "FILE", "also write the heatmap as .npy")
        .threadsOption();
    if (!p.parse(args))
        return 0;
    if (!p.has("image") || !p.has("out"))
        throw UsageError("--image and --out are required");
    core::configureThreads(p.threads());
    auto project = core::Project::open(p.value("PROJECT"), core::ProjectAccess::ReadOnly);
    const std::string run = p.value("RUN");
    core::RunExplainer explainer(*project, run);
    const int64_t imageId = p.intValue("image", 1, 2147483647);
    int classIndex = -1;
    const auto classes = project->classes();
    if (p.has("class")) {
        for (size_t c = 0; c < classes.size(); ++c)
            if (classes[c].name == p.value("class"))
                classIndex = static_cast<int>(c);
        if (classIndex < 0)
            throw core::UserError("no class '" + p.value("class") + "' in the project");
    }
    const auto e = explainer.explain(imageId, classIndex, p.intValue("stage", 0, 64));
    const auto& r = e.cam;
    core::writePng(p.value("out"), e.overlay);
    if (p.has("npy"))
        core::saveFloatNpy(p.value("npy"), r.heatmap.data_ptr<float>(), {e.size, e.size});
    std::printf("image %lld: explained class %s;", static_cast<long long>(imageId), classes[static_cast<size_t>(r.classIndex)].name.c_str());
    for (size_t c = 0; c < classes.size(); ++c)
        std::printf(" %s %.3f", classes[c].name.c_str(), r.probabilities[c]);
    std::printf("\nwrote %s\n", p.value("out").c_str());
    return 0;
}

} // namespace medsiam::cli
