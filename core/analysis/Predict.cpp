#include "analysis/Predict.h"

#include "analysis/GradCam.h"
#include "data/Augment.h"
#include "image/Png.h"
#include "models/Checkpoint.h"
#include "project/Importer.h"
#include "project/Project.h"
#include "project/RunStore.h"
#include "train/Features.h"
#include "train/FinetuneJob.h"
#include "util/ContentHash.h"
#include "util/Error.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <unordered_map>
#include <system_error>
#include <unistd.h>

namespace medsiam::core {

namespace fs = std::filesystem;

namespace {

/// Images per forward pass, and between two progress reports and cancel checks.
constexpr size_t kChunk = 64;

/// A fine-tuned run's selected checkpoint, ready to classify the images of a cache.
struct Classifier {
    Network net{nullptr};
    int size = 0;
    int64_t step = 0;
    std::vector<std::string> classNames;
};

Classifier loadClassifier(Project& project, const std::string& runId)
{
    RunStore store(project);
    const auto run = store.find(runId);
    if (!run)
        throw UserError("no run '" + runId + "' in " + project.dir() + " (see `medsiam-cli runs`)");
    if (run->kind != "finetune")
        throw UserError("run '" + runId + "' is a " + run->kind +
                        " run; predictions come from a classifier: choose a fine-tuned (finetune) run, such as one "
                        "Train a Classifier made");
    Classifier c;
    TrainingState state;
    c.net = loadNetwork(store.selectedCheckpoint(runId), &state);
    c.step = state.step;
    for (const auto& k : project.classes())
        c.classNames.push_back(k.name);
    const int k = c.net->config().backbone.numClasses;
    if (k < 2)
        throw UserError("run '" + runId + "' has no classification head; choose a fine-tuned classifier");
    if (static_cast<int>(c.classNames.size()) != k)
        throw UserError("the project now has " + std::to_string(c.classNames.size()) + " classes; run '" + runId +
                        "' was trained for " + std::to_string(k) + ": fine-tune a new classifier with the current classes");
    c.size = evaluationSize(project, runId);
    c.net->eval();
    return c;
}

void checkCancel(const PredictOptions& options)
{
    if (options.cancel && options.cancel->stopRequested())
        throw UserError("prediction cancelled; nothing was stored");
}

/// Class probabilities [indices.size() x classes] of the cache entries, in chunks.
std::vector<std::vector<float>> classify(Classifier& c, const ImageCache& cache, const std::vector<int64_t>& indices,
                                         const PredictOptions& options)
{
    const auto& cfg = c.net->config().backbone;
    const auto norm = inputNormalizationFor(cfg);
    const auto device = c.net->parameters().front().device();
    std::vector<std::vector<float>> out;
    out.reserve(indices.size());
    for (size_t from = 0; from < indices.size(); from += kChunk) {
        checkCancel(options);
        const std::vector<int64_t> chunk(indices.begin() + static_cast<std::ptrdiff_t>(from),
                                         indices.begin() + static_cast<std::ptrdiff_t>(std::min(indices.size(), from + kChunk)));
        const auto features = extractFeatures(*c.net, cache, chunk, c.size, norm, options.bf16);
        torch::NoGradGuard guard;
        const auto p = at::softmax(c.net->backbone().forwardHead(features.to(device)).to(at::kFloat), 1).cpu().contiguous();
        const int64_t k = p.size(1);
        for (int64_t i = 0; i < p.size(0); ++i)
            out.emplace_back(p.data_ptr<float>() + i * k, p.data_ptr<float>() + (i + 1) * k);
        if (options.progress)
            options.progress(out.size(), indices.size());
    }
    return out;
}

/// A file name for an id ("#" and "/" are not welcome in file names).
std::string fileNameOf(const std::string& id)
{
    std::string name = id;
    for (char& ch : name)
        if (ch == '#' || ch == '/' || ch == '\\')
            ch = '-';
    return name + ".png";
}

/// Writes the Grad-CAM overlay of each classified image of `images` (ids in `set`) into `dir`.
void writeGradCams(Project& runProject, const std::string& runId, Project& images, const PredictionSet& set,
                   const PredictOptions& options)
{
    std::error_code ec;
    fs::create_directories(options.gradcamDir, ec);
    if (ec)
        throw UserError("cannot create the Grad-CAM folder '" + options.gradcamDir + "': " + ec.message());
    RunExplainer explainer(runProject, runId, images);
    for (const auto& image : set.images) {
        if (image.predicted < 0)
            continue;
        checkCancel(options);
        const auto e = explainer.explain(image.imageId, image.predicted, -1);
        writePng((fs::path(options.gradcamDir) / fileNameOf(image.id)).string(), e.overlay);
    }
}

bool inScope(const TrainingItem& item, const PredictOptions& options)
{
    switch (options.scope) {
    case PredictScope::Unlabeled: return item.classIndex < 0;
    case PredictScope::All: return true;
    case PredictScope::Split: return item.split == (options.split == "none" ? std::string() : options.split);
    }
    return false;
}

/// A scratch project in the temporary folder, deleted with this object.
class ScratchProject {
public:
    explicit ScratchProject(int cacheResolution)
    {
        static std::atomic<int> counter{0};
        m_dir = fs::temp_directory_path() / ("medsiam-predict-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        std::error_code ec;
        fs::remove_all(m_dir, ec);
        project = Project::create(m_dir.string(), cacheResolution);
    }
    ~ScratchProject()
    {
        project.reset();
        std::error_code ec;
        fs::remove_all(m_dir, ec);
    }
    std::unique_ptr<Project> project;

private:
    fs::path m_dir;
};

} // namespace

void parsePredictScope(const std::string& text, PredictOptions& options)
{
    if (text == "unlabeled") {
        options.scope = PredictScope::Unlabeled;
    } else if (text == "all") {
        options.scope = PredictScope::All;
    } else if (text == "train" || text == "val" || text == "test" || text == "none") {
        options.scope = PredictScope::Split;
        options.split = text;
    } else {
        throw UserError("unknown selection '" + text + "': choose unlabeled, all, or a split (train, val, test, none)");
    }
}

PredictionSet predictProject(Project& project, const std::string& runId, const PredictOptions& options)
{
    Classifier c = loadClassifier(project, runId);
    ImageSet data(project);
    std::vector<int64_t> indices;
    for (size_t i = 0; i < data.items().size(); ++i)
        if (data.items()[i].imageId > 0 && inScope(data.items()[i], options))
            indices.push_back(static_cast<int64_t>(i));
    PredictionSet set;
    set.runId = runId;
    set.checkpointStep = c.step;
    set.classNames = c.classNames;
    const auto probabilities = classify(c, data.cache(), indices, options);
    std::map<int64_t, const CatalogueRow*> rowOf;
    const auto catalogue = project.catalogue();
    for (const auto& r : catalogue)
        rowOf[r.imageId] = &r;
    std::vector<PredictionRecord> records;
    for (size_t i = 0; i < indices.size(); ++i) {
        const auto& item = data.items()[static_cast<size_t>(indices[i])];
        ClassifiedImage image;
        image.imageId = item.imageId;
        image.id = std::to_string(item.imageId);
        image.split = item.split;
        image.truth = item.classIndex;
        image.probabilities = probabilities[i];
        scorePrediction(image);
        if (const auto it = rowOf.find(item.imageId); it != rowOf.end()) {
            const auto& r = *it->second;
            image.path = (r.relativePath.empty() ? r.sourcePath : r.relativePath) +
                         (r.frameCount > 1 ? "#" + std::to_string(r.frameIndex) : std::string());
            image.sopUid = r.sopUid;
        }
        records.push_back({image.imageId, image.split, image.truth, image.probabilities});
        set.images.push_back(std::move(image));
    }
    if (!options.gradcamDir.empty())
        writeGradCams(project, runId, project, set, options);
    if (!project.readOnly())
        project.mergePredictions(runId, records);
    return set;
}

PredictionSet predictFolders(Project& project, const std::string& runId, const std::vector<std::string>& sources,
                             const PredictOptions& options)
{
    if (sources.empty())
        throw UserError("name at least one folder or file to classify");
    Classifier c = loadClassifier(project, runId);
    ScratchProject scratch(project.cacheResolution());
    Project& images = *scratch.project;
    ImportOptions io;
    io.sources = sources;
    io.slicing = options.slicing;
    io.threads = options.importThreads;
    io.keepDuplicates = true; // every file gets its row, even a copy of another
    const auto summary = importSources(images, io, nullptr, options.cancel);
    if (summary.cancelled)
        throw UserError("prediction cancelled");
    checkCancel(options);

    PredictionSet set;
    set.runId = runId;
    set.checkpointStep = c.step;
    set.classNames = c.classNames;
    const auto catalogue = images.catalogue();
    if (!catalogue.empty()) {
        ImageSet data(images);
        std::vector<int64_t> indices;
        for (const auto& r : catalogue)
            indices.push_back(data.cache().indexOf(r.imageId));
        const auto probabilities = classify(c, data.cache(), indices, options);
        for (size_t i = 0; i < catalogue.size(); ++i) {
            const auto& r = catalogue[i];
            ClassifiedImage image;
            image.imageId = r.imageId;
            const std::string frame = r.frameCount > 1 ? "#" + std::to_string(r.frameIndex) : std::string();
            image.id = r.contentHash.substr(0, 16) + frame;
            image.path = (r.relativePath.empty() ? r.sourcePath : r.relativePath) + frame;
            image.sopUid = r.sopUid;
            image.probabilities = probabilities[i];
            scorePrediction(image);
            set.images.push_back(std::move(image));
        }
        if (!options.gradcamDir.empty())
            writeGradCams(project, runId, images, set, options);
    }
    for (const auto& [path, reason] : images.issues()) {
        ClassifiedImage image;
        try {
            image.id = hashFile(path).substr(0, 16);
        } catch (const UserError&) {
            image.id = "unreadable";
        }
        image.path = path;
        image.problem = reason;
        set.images.push_back(std::move(image));
    }
    // Ids of images from outside the project mean nothing once the scratch project is gone.
    for (auto& image : set.images)
        image.imageId = 0;
    return set;
}

std::vector<ClassifiedImage> reviewQueue(Project& project, const std::string& runId)
{
    std::unordered_map<int64_t, int> labelOf;
    for (const auto& item : project.trainingItems())
        labelOf[item.imageId] = item.classIndex;
    const size_t k = project.classes().size();
    std::vector<ClassifiedImage> queue;
    for (const auto& p : project.predictions(runId)) {
        const auto it = labelOf.find(p.imageId);
        if (it == labelOf.end() || it->second >= 0 || p.probabilities.size() != k || k == 0)
            continue;
        ClassifiedImage c;
        c.imageId = p.imageId;
        c.id = std::to_string(p.imageId);
        c.split = p.split;
        c.probabilities = p.probabilities;
        scorePrediction(c);
        queue.push_back(std::move(c));
    }
    std::stable_sort(queue.begin(), queue.end(), [](const ClassifiedImage& a, const ClassifiedImage& b) {
        return a.margin != b.margin ? a.margin < b.margin : a.imageId < b.imageId;
    });
    return queue;
}

std::pair<std::string, std::string> projectOfRunDir(const std::string& runDir)
{
    fs::path dir = fs::path(runDir).lexically_normal();
    if (dir.filename().empty())
        dir = dir.parent_path();
    const fs::path runs = dir.parent_path();
    const fs::path projectDir = runs.parent_path();
    if (runs.filename() != "runs" || !fs::is_directory(dir) || !Project::exists(projectDir.empty() ? "." : projectDir.string()))
        throw UserError("'" + runDir + "' is not a run folder of a project (PROJECT/runs/RUN)");
    return {projectDir.empty() ? std::string(".") : projectDir.string(), dir.filename().string()};
}

} // namespace medsiam::core
