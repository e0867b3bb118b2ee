// medsiam-cli tsne (run by medsiam-cli-engine)
#include "ArgParser.h"
#include "Commands.h"
#include "ProgressLine.h"

#include "analysis/Tsne.h"
#include "io/NpyArray.h"
#include "system/Runtime.h"
#include "util/AtomicFile.h"
#include "util/Error.h"

#include <ATen/ATen.h>

#include <cstdio>
#include <cstring>
#include <iostream>

namespace medsiam::cli {

namespace {

at::Tensor readMatrix(const std::string& path)
{
    const std::string bytes = core::readWholeFile(path);
    core::NpyArray a = core::parseNpy(std::vector<uint8_t>(bytes.begin(), bytes.end()), "'" + path + "'");
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
    core::NpyArray out;
    out.kind = 'f';
    out.itemSize = 4;
    out.shape = {static_cast<int64_t>(layout.size() / 2), 2};
    out.data.resize(layout.size() * 4);
    std::memcpy(out.data.data(), layout.data(), out.data.size());
    const auto bytes = core::writeNpy(out);
    core::writeFileAtomically(path, std::string(bytes.begin(), bytes.end()));
}

} // namespace

int runTsne(const std::vector<std::string>& args)
{
    ArgParser p("medsiam-cli tsne --npy FILE --out FILE [options]",
                "2-D t-SNE (or PCA) map of the rows of an N x D matrix (.npy), written as an N x 2 float32 .npy.\n"
                "Exact below --exact-max points, FFT-accelerated above.");
    p.option("npy", "FILE", "input matrix, N x D (.npy, any numeric dtype)")
        .option("out", "FILE", "output layout, N x 2 float32 (.npy)")
        .option("perplexity", "P", "perplexity", "30")
        .option("iterations", "N", "iterations", "1000")
        .option("exact-max", "N", "use the exact gradient up to this many points", "1500")
        .option("seed", "N", "random seed (used when PCA cannot initialize)", "0")
        .option("min-boxes", "N", "FFT grid: at least N boxes across the map", "20")
        .option("boxes-per-unit", "B", "FFT grid: boxes per unit of map span, at least", "0.5")
        .option("threads", "N", "CPU threads (0: all cores)", "0")
        .flag("pca", "the PCA map instead (instant)");
    if (!p.parse(args)) {
        std::cout << p.help();
        return 0;
    }
    if (!p.has("npy") || !p.has("out"))
        throw UsageError("--npy and --out are required");
    core::configureThreads(p.intValue("threads", 0, 1024));
    const auto x = readMatrix(p.value("npy"));
    if (p.has("pca")) {
        writeLayout(p.value("out"), core::pcaMap(x));
        std::printf("PCA map of %lld x %lld written to %s\n", static_cast<long long>(x.size(0)), static_cast<long long>(x.size(1)),
                    p.value("out").c_str());
        return 0;
    }
    core::TsneConfig c;
    c.perplexity = p.doubleValue("perplexity", 1, 1000);
    c.iterations = p.intValue("iterations", 1, 100000);
    c.exactMaxPoints = p.intValue("exact-max", 0, 100000);
    c.seed = static_cast<uint64_t>(p.intValue("seed", 0, 2147483647));
    c.minBoxes = p.intValue("min-boxes", 4, 1000);
    c.boxesPerUnit = p.doubleValue("boxes-per-unit", 0.05, 10);
    ProgressLine line;
    const auto r = core::runTsne(x, c, [&](const core::TsneProgress& pr) {
        char buf[128];
        std::snprintf(buf, sizeof buf, "t-SNE iteration %d/%d  KL %.4f", pr.iteration, pr.iterations, pr.kl);
        line.update(buf, pr.iteration == pr.iterations);
    });
    line.finish();
    writeLayout(p.value("out"), r.layout);
    std::printf("t-SNE of %lld x %lld (%s) in %.2f s, KL %.4f, written to %s\n", static_cast<long long>(x.size(0)),
                static_cast<long long>(x.size(1)), r.exact ? "exact" : "FFT-accelerated", r.seconds, r.kl, p.value("out").c_str());
    return 0;
}

} // namespace medsiam::cli
