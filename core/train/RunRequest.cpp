#include "train/RunRequest.h"

#include "io/TensorFile.h"
#include "project/Project.h"
#include "project/RunStore.h"
#include "util/Error.h"

#include <algorithm>
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
    int medianSide = 0;                   ///< the larger side of the median image
    bool smallImages() const { return medianSide > 0 && medianSide <= kSmallImageSide; }
    /// The smallest class's share of the labeled train images (1 when there are none).
    double minorityShare() const
    {
        int64_t total = 0, smallest = -1;
        for (int64_t n : labeledTrain) {
            total += n;
            if (n > 0 && (smallest < 0 || n < smallest))
                smallest = n;
        }
        return total > 0 && smallest >= 0 ? double(smallest) / double(total) : 1.0;
    }
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
    if (f.images > 0) {
        const auto [rows, columns] = project.medianImageSize();
        f.medianSide = std::max(rows, columns);
    }
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

/// What a run starts from: its weights file ("" random) and, for a medsiam checkpoint (an earlier
/// run), the model it holds.
struct StartPoint {
    std::string weights;
    std::optional<ModelConfig> checkpointModel;
    bool external() const { return !weights.empty() && !checkpointModel; }
};

/// The backbone with its stem, normalization and input channels: shared by every kind of run.
/// Unnamed, it is the checkpoint's (a run continued from an earlier one) or the default; the
/// stem follows the images (smallImageStem) unless ImageNet-class weights need theirs.
std::optional<ModelConfig> modelOf(const RunRequest& r, const ProjectFacts& facts, const StartPoint& start, Refusals& refusals)
{
    ModelConfig m;
    const bool fromCheckpoint = start.checkpointModel && !r.backbone;
    if (fromCheckpoint) {
        m.backbone = start.checkpointModel->backbone;
        m.backbone.numClasses = 0;
    } else if (!refusals.guard([&] { m.backbone = backbonePreset(r.backbone.value_or(kDefaultBackbone)); })) {
        return std::nullopt;
    }
    if (r.stem)
        refusals.guard([&] { m.backbone.stem = parseBackboneStem(*r.stem); });
    else if (!fromCheckpoint && !start.external() && facts.smallImages() && r.inputSize.value_or(0) <= kSmallImageSide)
        m.backbone.stem = BackboneStem::Cifar;
    if (r.norm) {
        if (m.backbone.arch != BackboneArch::ResNetV2)
            refusals.add("the normalization can be chosen for ResNet-v2 (BiT) backbones; " + m.backbone.name + " always uses BatchNorm");
        else
            refusals.guard([&] { m.backbone.norm = parseBackboneNorm(*r.norm); });
    }
    m.backbone.inChannels = r.inChannels.value_or(fromCheckpoint ? m.backbone.inChannels : facts.naturalChannels);
    if (m.backbone.inChannels != 1 && m.backbone.inChannels != 3)
        refusals.add("the network takes 1 (grey) or 3 (colour) input channels, not " + std::to_string(m.backbone.inChannels));
    else if (m.backbone.inChannels == 1 && facts.naturalChannels == 3)
        refusals.add("the project holds colour images but the network would take 1 channel; give it 3 input channels");
    m.heads = fromCheckpoint && start.checkpointModel->simsiamHeads ? start.checkpointModel->heads : defaultHeads(m.backbone);
    return m;
}

/// The input size a run gets when the user names none: small images through the CIFAR stem keep
/// about their own resolution (32 to kSmallImageSide px); otherwise `imagenetSize`, never finer
/// than the cache.
int defaultInputSize(const ProjectFacts& facts, const ModelConfig& model, int imagenetSize)
{
    if (model.backbone.stem == BackboneStem::Cifar) {
        const int side = facts.medianSide > 0 ? (facts.medianSide + 7) / 8 * 8 : 32;
        return std::clamp(side, 32, kSmallImageSide);
    }
    return facts.cacheResolution > 0 ? std::min(imagenetSize, facts.cacheResolution) : imagenetSize;
}

} // namespace

std::optional<ModelConfig> checkpointModel(const std::string& path)
{
    std::error_code ec;
    if (path.empty() || !fs::is_regular_file(path, ec))
        return std::nullopt;
    const auto meta = readSafetensorsMetadata(path);
    const auto format = meta.find("format");
    const auto config = meta.find("config");
    if (format == meta.end() || format->second != "medsiam-checkpoint" || config == meta.end())
        return std::nullopt;
    try {
        return ModelConfig::fromJson(config->second);
    } catch (const UserError&) {
        return std::nullopt;
    }
}

namespace {

/// The weights a run starts from: a file, an earlier run's last checkpoint, or none (random).
std::string initWeightsOf(Project& project, const RunRequest& r, Refusals& refusals)
{
    if (r.initFile && r.initRun) {
        refusals.add("give a weights file or an earlier run to start from, not both");
        return {};
    }
    if (r.initRun) {
        std::string path;
        refusals.guard([&] { path = RunStore(project).selectedCheckpoint(*r.initRun); });
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

StartPoint startOf(Project& project, const RunRequest& r, Refusals& refusals)
{
    StartPoint start;
    start.weights = initWeightsOf(project, r, refusals);
    start.checkpointModel = checkpointModel(start.weights);
    return start;
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
    if (r.budgetSeconds && r.steps)
        refusals.add("give a number of steps or a time budget, not both");
    if (r.budgetSeconds && !(*r.budgetSeconds >= 1))
        refusals.add("a time budget is at least 1 second");
}

} // namespace

std::string recipeFor(const std::string& initWeights)
{
    return !initWeights.empty() && !checkpointModel(initWeights) ? kRecipeHyperRule : kRecipeAdamW;
}

BuiltRun<PretrainConfig> buildPretrain(Project& project, const RunRequest& r, const RunContext& context)
{
    Refusals refusals;
    const ProjectFacts facts = factsOf(project, r.subset.value_or(""));
    PretrainConfig c; // its member initialisers are the defaults
    const StartPoint start = startOf(project, r, refusals);
    if (auto m = modelOf(r, facts, start, refusals))
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
    c.initWeights = start.weights;
    c.budgetSeconds = r.budgetSeconds.value_or(0);
    c.steps = r.budgetSeconds ? 0 : r.steps.value_or(c.steps);
    c.batch = r.batch.value_or(c.batch);
    c.inputSize = r.inputSize.value_or(defaultInputSize(facts, c.model, c.inputSize));
    c.baseLr = r.lr.value_or(c.baseLr);
    c.warmupSteps = r.warmupSteps.value_or(c.warmupSteps);
    c.weightDecay = r.weightDecay.value_or(c.weightDecay);
    c.seed = r.seed.value_or(c.seed);
    c.bf16 = r.bf16.value_or(!r.cuda && context.cpuBf16);
    c.cuda = r.cuda;
    c.checkpointEvery = r.checkpointEvery.value_or(c.steps > 0 ? std::min<int64_t>(c.checkpointEvery, c.steps) : c.checkpointEvery);
    c.monitorEvery = r.monitorEvery.value_or(c.monitorEvery);
    c.monitorAtStart = r.monitorAtStart;
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
    if (c.steps < 1 && !c.budgetSeconds)
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
    else if (c.warmupSteps > 0 && c.steps > 0 && c.warmupSteps >= c.steps)
        refusals.add("the warmup (" + std::to_string(c.warmupSteps) + " steps) must be shorter than the run (" +
                     std::to_string(c.steps) + " steps)");
    if (c.weightDecay < 0 || c.weightDecay > 1)
        refusals.add("the weight decay is between 0 and 1");
    if (c.monitorEvery < 0)
        refusals.add("the kNN monitor runs every 1 step or more (0: every epoch)");
    refusals.guard([&] { c.model.backbone.validate(); });
    return finish(c, refusals);
}

namespace {

/// The AdamW recipe's training views: a random crop of 75-100% of the image with a mild change of
/// aspect, a horizontal flip and mild brightness and contrast changes (docs/TRAINING.md).
AugmentConfig adamwAugment()
{
    AugmentConfig a = AugmentConfig::none();
    a.crop = true;
    a.cropScaleMin = 0.75;
    a.cropScaleMax = 1.0;
    a.flip = true;
    a.colorJitter = true;
    a.jitterProbability = 0.8;
    a.brightness = 0.2;
    a.contrast = 0.2;
    a.saturation = 0;
    a.hue = 0;
    return a;
}

/// The recipe's defaults, before the user's settings.
void applyRecipe(FinetuneConfig& c, const ProjectFacts& facts)
{
    if (c.recipe == kRecipeHyperRule)
        return; // FinetuneConfig's member initialisers are the HyperRule's
    c.optimizer = "adamw";
    c.schedule = "cosine";
    c.warmupFraction = 0.05;
    c.lr = 2e-3;
    c.weightDecay = 0.05;
    c.batch = 128;
    c.microBatch = 128;
    c.mixupAlpha = 0;
    c.validations = 20;
    c.augment = adamwAugment();
    // A minority class under 35% of the labeled train images: the loss weighs classes equally.
    c.classWeighted = facts.minorityShare() < 0.35;
}

} // namespace

std::optional<std::string> suggestedFinetuneStart(Project& project)
{
    RunStore store(project);
    std::vector<RunRecord> runs = store.list();
    // Newest first: by creation time, then id (runs made within a second differ by a suffix).
    for (auto it = runs.rbegin(); it != runs.rend(); ++it)
        if (it->kind == "simsiam-pretrain" && it->state == "completed" && store.hasCheckpoint(it->id))
            return it->id;
    return std::nullopt;
}

BuiltRun<FinetuneConfig> buildFinetune(Project& project, const RunRequest& r, const RunContext& context)
{
    Refusals refusals;
    const ProjectFacts facts = factsOf(project, r.subset.value_or(""));
    FinetuneConfig c;
    const StartPoint start = startOf(project, r, refusals);
    if (auto m = modelOf(r, facts, start, refusals))
        c.model = *m;
    c.model.simsiamHeads = false;
    c.model.backbone.numClasses = facts.classes;
    c.initWeights = start.weights;
    c.recipe = r.recipe.value_or(start.external() ? kRecipeHyperRule : kRecipeAdamW);
    if (c.recipe != kRecipeHyperRule && c.recipe != kRecipeAdamW) {
        refusals.add("the recipes are hyperrule (BiT's, for ImageNet-class weights) and adamw (for random init and SimSiam "
                     "runs); there is no '" + c.recipe + "'");
        c.recipe = kRecipeAdamW;
    }
    applyRecipe(c, facts);
    c.budgetSeconds = r.budgetSeconds.value_or(0);
    c.steps = r.budgetSeconds ? 0 : r.steps.value_or(c.steps);
    c.batch = r.batch.value_or(c.batch);
    c.microBatch = std::min(c.batch, r.microBatch.value_or(c.microBatch));
    c.lr = r.lr.value_or(c.lr);
    c.weightDecay = r.weightDecay.value_or(c.weightDecay);
    c.optimizer = r.optimizer.value_or(c.optimizer);
    c.schedule = r.schedule.value_or(c.schedule);
    c.labelSmoothing = r.labelSmoothing.value_or(c.labelSmoothing);
    c.crop = r.inputSize.value_or(c.recipe == kRecipeAdamW ? defaultInputSize(facts, c.model, 128) : c.crop);
    c.resize = r.resize.value_or(c.resize);
    c.mixupAlpha = r.mixupAlpha.value_or(c.mixupAlpha);
    c.checkpointEvery = r.checkpointEvery.value_or(c.checkpointEvery);
    c.evalEvery = r.evalEvery.value_or(c.evalEvery);
    c.subset = r.subset.value_or("");
    if (r.classBalance || r.classWeighted || r.balancedSampler) {
        const std::string balance = r.classBalance.value_or(r.balancedSampler ? "sampler" : "weighted");
        if (balance != "none" && balance != "weighted" && balance != "sampler")
            refusals.add("class balancing is none, weighted (the loss) or sampler (equal draws), not '" + balance + "'");
        c.classWeighted = balance == "weighted" || r.classWeighted;
        c.balancedSampler = balance == "sampler" || r.balancedSampler;
    }
    c.seed = r.seed.value_or(c.seed);
    c.bf16 = r.bf16.value_or(!r.cuda && context.cpuBf16);
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
    if (c.weightDecay < 0 || c.weightDecay > 1)
        refusals.add("the weight decay is between 0 and 1");
    if (c.optimizer != "sgd" && c.optimizer != "adamw")
        refusals.add("the optimizers are sgd and adamw, not '" + c.optimizer + "'");
    if (c.schedule != "steps" && c.schedule != "cosine")
        refusals.add("the schedules are steps (x0.1 decays) and cosine, not '" + c.schedule + "'");
    if (c.labelSmoothing < 0 || c.labelSmoothing >= 1)
        refusals.add("label smoothing is at least 0 and below 1");
    if (c.crop != 0 && c.crop < 16)
        refusals.add("the crop is at least 16 px");
    if (c.crop > 0 && c.resize > 0 && c.crop > c.resize)
        refusals.add("the crop (" + std::to_string(c.crop) + " px) cannot be larger than the resize (" + std::to_string(c.resize) + " px)");
    if (c.mixupAlpha > 100)
        refusals.add("the MixUp alpha is at most 100");
    if (c.evalEvery < 0)
        refusals.add("validation runs every 1 step or more (0: " + std::to_string(c.validations) + " times per run)");
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
        const StartPoint start = startOf(project, r, refusals);
        if (auto m = modelOf(r, facts, start, refusals))
            c.model = *m;
        c.initWeights = start.weights;
    }
    std::optional<ModelConfig> probed = r.probeRun ? std::nullopt : std::optional<ModelConfig>(c.model);
    if (r.probeRun && RunStore(project).exists(*r.probeRun) && RunStore(project).hasCheckpoint(*r.probeRun))
        probed = checkpointModel(RunStore(project).lastCheckpoint(*r.probeRun));
    c.inputSize = r.inputSize.value_or(probed ? defaultInputSize(facts, *probed, c.inputSize) : c.inputSize);
    c.bf16 = r.bf16.value_or(!r.cuda && context.cpuBf16);
    c.seed = r.seed.value_or(c.seed);
    c.classWeighted = !r.probeUnweighted;
    c.labelFractions = r.labelFractions;
    c.fewLabelDraws = r.labelDraws.value_or(c.fewLabelDraws);
    if (c.fewLabelDraws < 1 || c.fewLabelDraws > 100)
        refusals.add("the draws of a label fraction are 1 to 100");
    for (double f : c.labelFractions)
        if (!(f > 0 && f <= 1))
            refusals.add("a label fraction is above 0 and at most 1 (100%)");
    commonChecks(r, context, facts, refusals);
    if (facts.images > 0 && (facts.classes < 2 || classesPresent(facts) < 2))
        refusals.add("the linear probe needs labeled train images of at least two classes");
    if (c.inputSize < 16)
        refusals.add("the input size is at least 16 px");
    return finish(c, refusals);
}

} // namespace medsiam::core
