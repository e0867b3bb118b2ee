#include "train/RunRequest.h"

#include "project/Project.h"
#include "project/RunStore.h"
#include "util/Error.h"

#include <filesystem>
#include <set>

namespace fs = std::filesystem;

namespace medsiam::core {

template <typename Config>
std::string BuiltRun<Config>::message() const
{
    std::string m;
    for (const auto& r : refusals)
        m += (m.empty() ? "" : "\n") + r;
    return m;
}
template struct BuiltRun<PretrainConfig>;
template struct BuiltRun<FinetuneConfig>;
template struct BuiltRun<ProbeConfig>;

namespace {

/// What a run will see of the project: counted from the catalogue once.
struct ProjectFacts {
    int64_t images = 0;
    int64_t outsideValTest = 0;           ///< SimSiam's pool (in the subset, when one is asked)
    std::vector<int64_t> labeledTrain;    ///< per class (in the subset)
    int classes = 0;
    int cacheResolution = 0;
    int naturalChannels = 1;
};

ProjectFacts factsOf(Project& project, const std::string& subset)
{
    ProjectFacts f;
    f.classes = static_cast<int>(project.classes().size());
    f.labeledTrain.assign(static_cast<size_t>(f.classes), 0);
    for (const auto& item : project.trainingItems()) {
        ++f.images;
        if (!inSubset(item.imageId, subset))
            continue;
        if (item.split != "val" && item.split != "test")
            ++f.outsideValTest;
        if (item.split == "train" && item.classIndex >= 0 && item.classIndex < f.classes)
            ++f.labeledTrain[static_cast<size_t>(item.classIndex)];
    }
    f.cacheResolution = project.cacheResolution();
    f.naturalChannels = project.naturalChannels();
    return f;
}

/// Collects refusals; the first of a kind is enough.
struct Refusals {
    std::vector<std::string> list;
    void add(const std::string& why) { list.push_back(why); }
    /// Runs `f`, turning a UserError it throws into a refusal; false when it threw.
    template <typename F>
    bool guard(F&& f)
    {
        try {
            f();
            return true;
        } catch (const UserError& e) {
            add(e.what());
            return false;
        }
    }
};

/// The backbone with its normalization and input channels: shared by every kind of run.
std::optional<ModelConfig> modelOf(const RunRequest& r, const ProjectFacts& facts, Refusals& refusals)
{
    ModelConfig m;
    if (!refusals.guard([&] { m.backbone = backbonePreset(r.backbone.value_or(kDefaultBackbone)); }))
        return std::nullopt;
    if (r.norm) {
        if (m.backbone.arch != BackboneArch::ResNetV2)
            refusals.add("the normalization can be chosen for ResNet-v2 (BiT) backbones; " + m.backbone.name + " always uses BatchNorm");
        else
            refusals.guard([&] { m.backbone.norm = parseBackboneNorm(*r.norm); });
    }
    m.backbone.inChannels = r.inChannels.value_or(facts.naturalChannels);
    if (m.backbone.inChannels != 1 && m.backbone.inChannels != 3)
        refusals.add("the network takes 1 (grey) or 3 (colour) input channels, not " + std::to_string(m.backbone.inChannels));
    else if (m.backbone.inChannels == 1 && facts.naturalChannels == 3)
        refusals.add("the project holds colour images but the network would take 1 channel; give it 3 input channels");
    m.heads = defaultHeads(m.backbone);
    return m;
}

/// The weights a run starts from: a file, an earlier run's last checkpoint, or none (random).
std::string initWeightsOf(Project& project, const RunRequest& r, Refusals& refusals)
{
    if (r.initFile && r.initRun) {
        refusals.add("give a weights file or an earlier run to start from, not both");
        return {};
    }
    if (r.initRun) {
        std::string path;
        refusals.guard([&] { path = RunStore(project).lastCheckpoint(*r.initRun); });
        return path;
    }
    if (r.initFile) {
        const std::string f = *r.initFile;
        std::error_code ec;
        if (f.empty())
            refusals.add("choose the weights file to start from, or start from random initialization");
        else if (!fs::exists(f, ec))
            refusals.add("the weights file '" + f + "' does not exist");
        else if (!fs::is_regular_file(f, ec))
            refusals.add("'" + f + "' is not a weights file (it is a folder or a device)");
        return f;
    }
    return {};
}

/// The configuration when nothing was refused, else the refusals.
template <typename Config>
BuiltRun<Config> finish(const Config& config, Refusals& refusals)
{
    BuiltRun<Config> out;
    out.refusals = std::move(refusals.list);
    if (out.refusals.empty())
        out.config = config;
    return out;
}

/// Classes with labeled train images.
int classesPresent(const ProjectFacts& facts)
{
    int present = 0;
    for (int64_t n : facts.labeledTrain)
        present += n > 0;
    return present;
}

void commonChecks(const RunRequest& r, const RunContext& context, const ProjectFacts& facts, Refusals& refusals)
{
    if (facts.images == 0)
        refusals.add("the project has no images yet: import some first");
    if (r.cuda && !context.cudaAvailable)
        refusals.add("training on the GPU was asked for, but no CUDA device is available to this LibTorch");
    if (r.subset && *r.subset != "a" && *r.subset != "b")
        refusals.add("the subset is 'a' or 'b' (one half of the images each), not '" + *r.subset + "'");
    if (r.checkpointEvery && *r.checkpointEvery < 1)
        refusals.add("checkpoints are written every 1 step or more");
}

} // namespace

BuiltRun<PretrainConfig> buildPretrain(Project& project, const RunRequest& r, const RunContext& context)
{
    Refusals refusals;
    const ProjectFacts facts = factsOf(project, r.subset.value_or(""));
    PretrainConfig c; // its member initialisers are the defaults
    if (auto m = modelOf(r, facts, refusals))
        c.model = *m;
    c.model.simsiamHeads = true;
    if (r.headNorm)
        refusals.guard([&] { c.model.heads.norm = parseHeadNorm(*r.headNorm); });
    if (r.projectorDim) {
        c.model.heads.projectorDim = *r.projectorDim;
        c.model.heads.predictorHidden = std::max(1, c.model.heads.projectorDim / 4);
    }
    if (r.predictorDim)
        c.model.heads.predictorHidden = *r.predictorDim;
    if (r.projectorLayers)
        c.model.heads.projectorLayers = *r.projectorLayers;
    refusals.guard([&] { c.model.heads.validate(); });
    c.initWeights = initWeightsOf(project, r, refusals);
    c.steps = r.steps.value_or(c.steps);
    c.batch = r.batch.value_or(c.batch);
    c.inputSize = r.inputSize.value_or(c.inputSize);
    c.baseLr = r.lr.value_or(c.baseLr);
    c.warmupSteps = r.warmupSteps.value_or(c.warmupSteps);
    c.weightDecay = r.weightDecay.value_or(c.weightDecay);
    c.seed = r.seed.value_or(c.seed);
    c.bf16 = r.bf16;
    c.cuda = r.cuda;
    c.checkpointEvery = r.checkpointEvery.value_or(std::min<int64_t>(c.checkpointEvery, std::max<int64_t>(1, c.steps)));
    c.monitorEvery = r.monitorEvery.value_or(c.monitorEvery);
    c.stopGradient = !r.noStopGradient;
    c.subset = r.subset.value_or("");
    // Augmentation: the project's defaults (Train > or --save-aug), then this run's switches.
    c.augment = AugmentConfig::fromJson(project.setting("augment", "{}"));
    auto setPart = [&](const std::string& part, bool on) {
        if (part == "crop")
            c.augment.crop = on;
        else if (part == "flip")
            c.augment.flip = on;
        else if (part == "jitter")
            c.augment.colorJitter = on;
        else if (part == "grayscale")
            c.augment.grayscale = on;
        else if (part == "blur")
            c.augment.blur = on;
        else
            refusals.add("the augmentations are crop, flip, jitter, grayscale and blur; there is no '" + part + "'");
    };
    for (const auto& part : r.augmentOn)
        setPart(part, true);
    for (const auto& part : r.augmentOff)
        setPart(part, false);

    commonChecks(r, context, facts, refusals);
    if (c.steps < 1)
        refusals.add("a run trains for at least 1 step");
    if (c.batch < 2)
        refusals.add("SimSiam compares the images of a batch: the batch needs at least 2 images");
    else if (facts.images > 0 && facts.outsideValTest < c.batch)
        refusals.add("SimSiam needs at least one full batch: " + std::to_string(facts.outsideValTest) +
                     " images outside val and test, batch " + std::to_string(c.batch));
    if (c.inputSize < 16)
        refusals.add("the input size is at least 16 px");
    if (!(c.baseLr > 0))
        refusals.add("the learning rate must be above 0");
    if (c.warmupSteps < 0)
        refusals.add("the warmup cannot be negative");
    else if (c.warmupSteps > 0 && c.warmupSteps >= c.steps)
        refusals.add("the warmup (" + std::to_string(c.warmupSteps) + " steps) must be shorter than the run (" +
                     std::to_string(c.steps) + " steps)");
    if (c.weightDecay < 0 || c.weightDecay > 1)
        refusals.add("the weight decay is between 0 and 1");
    if (c.monitorEvery < 0)
        refusals.add("the kNN monitor runs every 1 step or more (0: every epoch)");
    refusals.guard([&] { c.model.backbone.validate(); });
    return finish(c, refusals);
}

BuiltRun<FinetuneConfig> buildFinetune(Project& project, const RunRequest& r, const RunContext& context)
{
    Refusals refusals;
    const ProjectFacts facts = factsOf(project, r.subset.value_or(""));
    FinetuneConfig c;
    if (auto m = modelOf(r, facts, refusals))
        c.model = *m;
    c.model.backbone.numClasses = facts.classes;
    c.initWeights = initWeightsOf(project, r, refusals);
    c.steps = r.steps.value_or(c.steps);
    c.batch = r.batch.value_or(c.batch);
    c.microBatch = std::min(c.batch, r.microBatch.value_or(c.microBatch));
    c.lr = r.lr.value_or(c.lr);
    c.crop = r.inputSize.value_or(c.crop);
    c.resize = r.resize.value_or(c.resize);
    c.mixupAlpha = r.mixupAlpha.value_or(c.mixupAlpha);
    c.checkpointEvery = r.checkpointEvery.value_or(c.checkpointEvery);
    c.evalEvery = r.evalEvery.value_or(c.evalEvery);
    c.subset = r.subset.value_or("");
    c.classWeighted = r.classWeighted;
    c.balancedSampler = r.balancedSampler;
    c.seed = r.seed.value_or(c.seed);
    c.bf16 = r.bf16;
    c.cuda = r.cuda;

    commonChecks(r, context, facts, refusals);
    const int present = classesPresent(facts);
    if (facts.classes < 2)
        refusals.add("the project has " + std::to_string(facts.classes) +
                     (facts.classes == 1 ? " class" : " classes") + "; fine-tuning needs labeled images of at least two");
    else if (facts.images > 0 && present < 2)
        refusals.add("fine-tuning needs labeled train images of at least two classes (label images and give them the train "
                     "split)");
    if (c.steps < 0)
        refusals.add("the number of steps cannot be negative (0: the recipe's)");
    if (c.batch < 1)
        refusals.add("the batch needs at least 1 image");
    if (c.microBatch < 1)
        refusals.add("the micro-batch needs at least 1 image");
    if (!(c.lr > 0))
        refusals.add("the learning rate must be above 0");
    if (c.crop != 0 && c.crop < 16)
        refusals.add("the crop is at least 16 px");
    if (c.crop > 0 && c.resize > 0 && c.crop > c.resize)
        refusals.add("the crop (" + std::to_string(c.crop) + " px) cannot be larger than the resize (" + std::to_string(c.resize) + " px)");
    if (c.mixupAlpha > 100)
        refusals.add("the MixUp alpha is at most 100");
    if (c.evalEvery < 0)
        refusals.add("validation runs every 1 step or more (0: ten times per run)");
    refusals.guard([&] { c.model.backbone.validate(); });
    return finish(c, refusals);
}

BuiltRun<ProbeConfig> buildProbe(Project& project, const RunRequest& r, const RunContext& context)
{
    Refusals refusals;
    const ProjectFacts facts = factsOf(project, "");
    ProbeConfig c;
    if (r.probeRun) {
        c.sourceRun = *r.probeRun;
        refusals.guard([&] { (void)RunStore(project).lastCheckpoint(c.sourceRun); });
    } else {
        if (auto m = modelOf(r, facts, refusals))
            c.model = *m;
        c.initWeights = initWeightsOf(project, r, refusals);
    }
    c.inputSize = r.inputSize.value_or(c.inputSize);
    c.bf16 = r.bf16;
    c.seed = r.seed.value_or(c.seed);
    c.classWeighted = !r.probeUnweighted;
    commonChecks(r, context, facts, refusals);
    if (facts.images > 0 && (facts.classes < 2 || classesPresent(facts) < 2))
        refusals.add("the linear probe needs labeled train images of at least two classes");
    if (c.inputSize < 16)
        refusals.add("the input size is at least 16 px");
    return finish(c, refusals);
}

} // namespace medsiam::core
