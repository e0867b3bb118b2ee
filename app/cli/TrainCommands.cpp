// medsiam-cli pretrain | resume | probe (run by medsiam-cli-engine)
#include "ArgParser.h"
#include "ResultsText.h"
#include "Commands.h"
#include "Launcher.h"
#include "ProgressLine.h"

#include "project/Project.h"
#include "project/RunStore.h"
#include "system/Runtime.h"
#include "train/Budget.h"
#include "train/Distributed.h"
#include "train/ClassifierChain.h"
#include "train/Experiment.h"
#include "util/Csv.h"
#include "train/FinetuneJob.h"
#include "train/RunSummary.h"
#include "train/LinearProbe.h"
#include "train/PretrainJob.h"
#include "train/RunRequest.h"
#include "util/Error.h"
#include "util/Text.h"

#include <climits>
#include <cmath>
#include <filesystem>
#include <functional>
#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>
#include <type_traits>

namespace medsiam::cli {

namespace {

core::JobControl* g_control = nullptr;
void onInterrupt(int)
{
    if (g_control)
        g_control->token().requestStop(); // async-signal-safe: an atomic store
}

/// Runs a job with Ctrl-C (SIGINT) and SIGTERM asking it to stop: it writes a checkpoint first.
core::JobState runInterruptible(const std::function<core::JobState(core::JobControl&)>& run)
{
    core::JobControl control;
    g_control = &control;
    std::signal(SIGINT, onInterrupt);
    std::signal(SIGTERM, onInterrupt);
    const core::JobState state = run(control);
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    g_control = nullptr;
    return state;
}

class ConsoleObserver : public core::JobObserver {
public:
    void step(const core::StepEvent& e) override
    {
        char buf[256], collapse[64] = "";
        if (e.collapseHealthy > 0)
            std::snprintf(collapse, sizeof collapse, "  std %.3f (healthy %.3f)", e.collapseStd, e.collapseHealthy);
        std::snprintf(buf, sizeof buf, "step %lld/%lld  epoch %lld  loss %.4f  lr %.3g  %.0f img/s%s  ETA %s",
                      static_cast<long long>(e.step), static_cast<long long>(e.totalSteps), static_cast<long long>(e.epoch), e.loss,
                      e.lr, e.imagesPerSecond, collapse, core::text::humanDuration(e.etaSeconds).c_str());
        m_line.update(buf, e.step == e.totalSteps);
    }
    void monitor(const core::MonitorEvent& e) override
    {
        m_line.finish();
        std::fprintf(stderr, "kNN monitor at step %lld: val accuracy %.3f, balanced accuracy %.3f (%lld train neighbours, %lld val images)\n",
                     static_cast<long long>(e.step), e.knnAccuracy, e.knnBalancedAccuracy, static_cast<long long>(e.bank),
                     static_cast<long long>(e.queries));
    }
    void evaluation(const core::EvalEvent& e) override
    {
        m_line.finish();
        std::fprintf(stderr, "%s at step %lld: accuracy %.3f, balanced accuracy %.3f, ROC AUC %.3f (%lld images)\n", e.split.c_str(),
                     static_cast<long long>(e.step), e.metrics.accuracy, e.metrics.balancedAccuracy, e.metrics.macroAuc,
                     static_cast<long long>(e.metrics.samples));
    }
    void warning(const std::string& message) override
    {
        m_line.finish();
        std::fprintf(stderr, "warning: %s\n", message.c_str());
    }
    void stateChanged(core::JobState state, const std::string& message) override
    {
        if (state == core::JobState::Cancelling) {
            m_line.finish();
            std::fprintf(stderr, "stopping: writing a checkpoint...\n");
        }
        if (state == core::JobState::Failed || state == core::JobState::Cancelled || state == core::JobState::Completed)
            m_line.finish();
        if (state == core::JobState::Failed)
            std::fprintf(stderr, "error: %s\n", message.c_str());
    }

private:
    ProgressLine m_line;
};

/// The ranks after the first of a data-parallel run say only how they ended, and only a failure.
class RankObserver : public core::JobObserver {
public:
    explicit RankObserver(int rank) : m_rank(rank) {}
    void stateChanged(core::JobState state, const std::string& message) override
    {
        if (state == core::JobState::Failed)
            std::fprintf(stderr, "rank %d: error: %s\n", m_rank, message.c_str());
    }

private:
    int m_rank;
};

/// "bit-nano (gn_ws, cifar stem)": the network of a run.
std::string networkText(const core::ModelConfig& m)
{
    return m.backbone.name + " (" + core::toString(m.backbone.norm) + ", " + core::toString(m.backbone.stem) + " stem)";
}

std::string lengthText(int64_t steps, double budgetSeconds)
{
    if (budgetSeconds > 0)
        return "budget " + core::formatDuration(budgetSeconds) + " (steps sized from the measured speed)";
    return std::to_string(steps) + " steps";
}

void describe(const std::string& id, const core::PretrainConfig& c)
{
    std::fprintf(stderr, "run %s: SimSiam, %s at %d px, batch %d, %s, %s\n", id.c_str(), networkText(c.model).c_str(), c.inputSize,
                 c.batch, lengthText(c.steps, c.budgetSeconds).c_str(), c.bf16 ? "bf16" : "fp32");
}

void describe(const std::string& id, const core::FinetuneConfig& c)
{
    std::fprintf(stderr, "run %s: %s recipe, %s at %d px, %s, batch %d, lr %g, %s%s, %s\n", id.c_str(), c.recipe.c_str(),
                 networkText(c.model).c_str(), c.crop, c.optimizer.c_str(), c.batch, c.lr,
                 lengthText(c.steps, c.budgetSeconds).c_str(),
                 c.classWeighted ? ", classes weighted" : c.balancedSampler ? ", classes drawn equally" : "", c.bf16 ? "bf16" : "fp32");
    if (!c.initWeights.empty())
        std::fprintf(stderr, "  starting from %s\n", c.initWeights.c_str());
}

/// A finished fine-tuning run: which checkpoint was chosen, its val and test metrics, and the
/// warnings when the numbers flatter it.
void printOutcome(core::Project& project, const std::string& id, const core::FinetuneConfig&)
{
    printClassifierResults("", core::FinetuneSummary::read(core::RunStore(project).readSummary(id)));
}
void printOutcome(core::Project&, const std::string&, const core::PretrainConfig&) {}

template <typename Job>
int runJob(core::Project& project, const std::string& id, core::ProcessGroup* group = nullptr, int localRank = 0)
{
    Job job(project, id);
    const bool lead = !group || group->rank() == 0;
    job.setGroup(group, localRank);
    if (!lead) {
        RankObserver observer(group->rank());
        const core::JobState state = runInterruptible([&](core::JobControl& control) { return job.run(observer, control); });
        return state == core::JobState::Completed ? 0 : state == core::JobState::Cancelled ? 130 : 1;
    }
    const int64_t from = job.resumeStep();
    if (from > 0)
        std::fprintf(stderr, "resuming run %s from step %lld\n", id.c_str(), static_cast<long long>(from));
    else
        describe(id, job.config());
    ConsoleObserver observer;
    const core::JobState state = runInterruptible([&](core::JobControl& control) { return job.run(observer, control); });
    switch (state) {
    case core::JobState::Completed:
        std::printf("run %s completed: %s\n", id.c_str(), core::RunStore(project).summaryPath(id).c_str());
        printOutcome(project, id, job.config());
        return 0;
    case core::JobState::Cancelled:
        std::printf("run %s stopped; continue with: medsiam-cli resume %s %s\n", id.c_str(), project.dir().c_str(), id.c_str());
        return 130;
    default:
        return 1;
    }
}

/// A rank after the first of a data-parallel run: rank 0 makes the run and sends its id; this
/// rank trains it with rank 0's configuration, reading the project only. nullopt for rank 0 or alone.
template <typename Job>
std::optional<int> runAsFollower(const ArgParser& p, const Ranks& ranks)
{
    if (!ranks.group || ranks.group->rank() == 0)
        return std::nullopt;
    auto project = core::Project::open(p.value("PROJECT"), core::ProjectAccess::ReadOnly);
    const std::string id = ranks.group->broadcastString("");
    return runJob<Job>(*project, id, ranks.group.get(), ranks.env.localRank);
}

/// Number options are read as numbers here (a typo is a usage error); whether a value makes
/// sense is core's to say (RunRequest.h), in the words the desktop app uses too.
std::optional<int> intOption(const ArgParser& p, const char* name)
{
    return p.has(name) ? std::optional<int>(p.intValue(name, INT_MIN, INT_MAX)) : std::nullopt;
}
std::optional<int64_t> stepsOption(const ArgParser& p, const char* name)
{
    return p.has(name) ? std::optional<int64_t>(p.intValue(name, INT_MIN, INT_MAX)) : std::nullopt;
}
std::optional<double> doubleOption(const ArgParser& p, const char* name)
{
    return p.has(name) ? std::optional<double>(p.doubleValue(name, -1e300, 1e300)) : std::nullopt;
}
std::optional<std::string> textOption(const ArgParser& p, const char* name)
{
    return p.has(name) ? std::optional<std::string>(p.value(name)) : std::nullopt;
}

/// Where and how a run computes: --threads, --bf16, --fp32, --cuda (read back by bf16Option).
void addComputeOptions(ArgParser& p)
{
    p.threadsOption()
        .flag("bf16", "bf16 autocast (the default on CPUs with AVX512-BF16; elsewhere ~10x slower on the CPU)")
        .flag("fp32", "no bf16 autocast, also on CPUs with AVX512-BF16")
        .flag("cuda", "train on the GPU");
}

void addBackboneOptions(ArgParser& p, int defaultSize)
{
    p.option("backbone", "NAME", std::string("backbone (see `medsiam-cli model list`); default: ") + core::kDefaultBackbone +
                                     ", or the network of --init-run")
        .option("norm", "KIND", "ResNet-v2 normalization: gn_ws (BiT), bn_ws or bn")
        .option("stem", "KIND", "first layer: imagenet (7x7/2 conv, max-pool) or cifar (3x3/1 conv, no pooling); default: "
                                "cifar for images up to " + std::to_string(core::kSmallImageSide) +
                                    " px started from random or a medsiam run, else imagenet")
        .option("in-channels", "N", "1 or 3; default: 1 when every image is grayscale")
        .option("init", "FILE", "initial weights: BiT .npz, timm/torchvision weights or a medsiam checkpoint")
        .option("init-run", "RUN", "initial weights: an earlier run of this project (a classifier's selected checkpoint)")
        .option("size", "PX", "network input size (default: the images' own, 32-" + std::to_string(core::kSmallImageSide) + " px, through the cifar stem; else " +
                                  (defaultSize > 0 ? std::to_string(defaultSize) : std::string("the recipe's")) + ")")
        .option("seed", "N", "random seed", "0");
    addComputeOptions(p);
}

/// --bf16 or --fp32; unset leaves the choice to the run builders (RunRequest.h).
std::optional<bool> bf16Option(const ArgParser& p)
{
    return p.has("bf16") ? std::optional<bool>(true) : p.has("fp32") ? std::optional<bool>(false) : std::nullopt;
}

/// The options every kind of run shares, into a request.
core::RunRequest requestFromOptions(const ArgParser& p)
{
    core::RunRequest r;
    r.backbone = textOption(p, "backbone");
    r.norm = textOption(p, "norm");
    r.stem = textOption(p, "stem");
    r.inChannels = intOption(p, "in-channels");
    r.initFile = textOption(p, "init");
    r.initRun = textOption(p, "init-run");
    r.inputSize = intOption(p, "size");
    if (p.has("seed"))
        r.seed = static_cast<uint64_t>(p.intValue("seed", 0, 2147483647));
    r.bf16 = bf16Option(p);
    r.cuda = p.has("cuda");
    return r;
}

core::RunContext runContext() { return core::machineContext(); }

/// The options pretraining and fine-tuning share, after the common ones.
void trainingOptions(const ArgParser& p, core::RunRequest& r)
{
    r.steps = stepsOption(p, "steps");
    if (p.has("budget"))
        r.budgetSeconds = core::parseDuration(p.value("budget"));
    r.batch = intOption(p, "batch");
    r.lr = doubleOption(p, "lr");
    r.checkpointEvery = stepsOption(p, "checkpoint-every");
    r.subset = textOption(p, "subset");
}

/// The built configuration, or the refusals as the command's error.
template <typename Config>
Config accepted(core::BuiltRun<Config> built)
{
    if (!built.ok())
        throw core::UserError(built.message());
    return *built.config;
}

} // namespace

int runPretrain(const std::vector<std::string>& args)
{
    const core::PretrainConfig d;
    ArgParser p("medsiam-cli pretrain PROJECT [options]",
                "SimSiam self-supervised pretraining on the project's images outside val and test, optionally\n"
                "starting from BiT (or any) weights. Writes runs/<id>/ in the project; Ctrl-C writes a checkpoint\n"
                "and stops, and `medsiam-cli resume` continues.");
    p.positional("PROJECT", "project folder");
    addBackboneOptions(p, d.inputSize);
    p.option("steps", "N", "training steps", std::to_string(d.steps))
        .option("budget", "TIME", "train for this long instead (90s, 10m, 1h): the steps are sized to it")
        .option("batch", "N", "batch size", std::to_string(d.batch))
        .option("lr", "LR", "base learning rate (lr = base x batch / 256, cosine decay)", core::text::formatNumber(d.baseLr))
        .option("warmup", "N", "linear warmup steps", std::to_string(d.warmupSteps))
        .option("weight-decay", "WD", "weight decay", core::text::formatNumber(d.weightDecay))
        .option("head-norm", "KIND", "projector/predictor normalization: bn, gn, ln or none", "bn")
        .option("projector-dim", "N", "projector dimension (default: 2048, scaled down for small backbones)")
        .option("predictor-dim", "N", "predictor bottleneck (default: projector / 4)")
        .option("projector-layers", "N", "projector layers: 2 or 3", "3")
        .option("checkpoint-every", "N", "steps between checkpoints", std::to_string(d.checkpointEvery))
        .option("monitor-every", "N", "steps between kNN monitors (0: every epoch)", std::to_string(d.monitorEvery))
        .flag("monitor-at-start", "also a kNN monitor before the first step (where the initial weights start)")
        .option("subset", "a|b", "train on one deterministic half of the images (for upstream/SimSiam chains)")
        .flag("no-stop-gradient", "drop SimSiam's stop-gradient (to see collapse happen)")
        .multiOption("no-aug", "PART", "switch off an augmentation: crop, flip, jitter, grayscale or blur")
        .multiOption("aug", "PART", "switch an augmentation back on (over the project's defaults)")
        .flag("save-aug", "make this run's augmentation the project's default for later runs");
    addDistributedOptions(p);
    if (!p.parse(args))
        return 0;
    Ranks ranks;
    if (const auto launched = startRanks(p, "pretrain", args, ranks))
        return *launched;
    const core::DistributedEnv& env = ranks.env;
    const auto& group = ranks.group;
    if (const auto followed = runAsFollower<core::PretrainJob>(p, ranks)) // rank 0 makes the run
        return *followed;
    auto project = core::Project::open(p.value("PROJECT"));
    core::RunRequest r = requestFromOptions(p);
    trainingOptions(p, r);
    r.warmupSteps = stepsOption(p, "warmup");
    r.weightDecay = doubleOption(p, "weight-decay");
    r.headNorm = textOption(p, "head-norm");
    r.projectorDim = intOption(p, "projector-dim");
    r.predictorDim = intOption(p, "predictor-dim");
    r.projectorLayers = intOption(p, "projector-layers");
    r.monitorEvery = stepsOption(p, "monitor-every");
    r.monitorAtStart = p.has("monitor-at-start");
    r.noStopGradient = p.has("no-stop-gradient");
    r.augmentOn = p.values("aug");
    r.augmentOff = p.values("no-aug");
    const core::PretrainConfig c = accepted(core::buildPretrain(*project, r, runContext()));
    if (group)
        core::checkBatchShards(c.batch, group->size()); // before a run is made
    if (p.has("save-aug"))
        project->setSetting("augment", c.augment.toJson());
    const std::string id = core::PretrainJob::create(*project, c);
    if (group)
        group->broadcastString(id);
    return runJob<core::PretrainJob>(*project, id, group.get(), env.localRank);
}

int runFinetune(const std::vector<std::string>& args)
{
    const core::FinetuneConfig d;
    ArgParser p("medsiam-cli finetune PROJECT [options]",
                "Trains a classifier on the labeled train images, keeps the checkpoint with the best validation score\n"
                "(ROC AUC for two classes, balanced accuracy otherwise), evaluates it on val and test and stores its\n"
                "predictions. The recipe follows the starting point (docs/TRAINING.md):\n"
                "  adamw      random init (the default) or a medsiam run (--init-run): AdamW lr 0.002, weight decay\n"
                "             0.05, batch 128, 5% warmup then cosine, random crops, flips, brightness and contrast,\n"
                "             classes weighted when the smallest is under 35% of the images; 30 epochs, or --budget\n"
                "  hyperrule  BiT, timm or torchvision weights (--init): BiT-HyperRule, SGD lr 0.003 at batch 512 by\n"
                "             micro-batches, momentum 0.9, warmup and x0.1 decays by dataset size, MixUp from 20k\n"
                "             images, resolution by image size\n"
                "The same command trains an upstream transfer source on any labeled project.");
    p.positional("PROJECT", "project folder");
    addBackboneOptions(p, 0);
    p.option("recipe", "NAME", "hyperrule or adamw (default: by the starting point, see above)")
        .option("steps", "N", "training steps (default: the recipe's; the HyperRule's schedule scales to them)")
        .option("budget", "TIME", "train for this long instead (90s, 10m, 1h): the steps and the schedule are sized to it")
        .option("batch", "N", "effective batch size (default: the recipe's)")
        .option("micro-batch", "N", "images per forward pass (gradients accumulate up to --batch)")
        .option("lr", "LR", "learning rate (the HyperRule's is for batch 512 and scales with --batch)")
        .option("optimizer", "NAME", "sgd (momentum 0.9) or adamw (default: the recipe's)")
        .option("schedule", "NAME", "steps (warmup, x0.1 decays) or cosine (warmup, cosine to 0)")
        .option("weight-decay", "WD", "weight decay (default: the recipe's)")
        .option("label-smoothing", "E", "cross-entropy label smoothing", "0")
        .option("class-balance", "KIND", "none, weighted (the loss) or sampler (equal draws); default: weighted when "
                                         "a class is under 35% of the train images (adamw)")
        .option("resize", "PX", "resize before the random crop (default: the HyperRule's, scaled to the cache)")
        .option("mixup", "ALPHA", "MixUp alpha (default: 0.1 from 20k train images with the HyperRule, else off)")
        .option("checkpoint-every", "N", "steps between checkpoints", std::to_string(d.checkpointEvery))
        .option("eval-every", "N", "steps between validations (default: 20 per run with adamw, 10 with the HyperRule)")
        .option("subset", "a|b", "train on one deterministic half of the labeled train images")
        .flag("class-weighted", "same as --class-balance weighted")
        .flag("balanced-sampler", "same as --class-balance sampler");
    addDistributedOptions(p);
    if (!p.parse(args))
        return 0;
    Ranks ranks;
    if (const auto launched = startRanks(p, "finetune", args, ranks))
        return *launched;
    const core::DistributedEnv& env = ranks.env;
    const auto& group = ranks.group;
    if (const auto followed = runAsFollower<core::FinetuneJob>(p, ranks)) // rank 0 makes the run
        return *followed;
    auto project = core::Project::open(p.value("PROJECT"));
    core::RunRequest r = requestFromOptions(p);
    trainingOptions(p, r);
    r.microBatch = intOption(p, "micro-batch");
    r.resize = intOption(p, "resize");
    r.mixupAlpha = doubleOption(p, "mixup");
    r.evalEvery = stepsOption(p, "eval-every");
    r.classWeighted = p.has("class-weighted");
    r.balancedSampler = p.has("balanced-sampler");
    r.recipe = textOption(p, "recipe");
    r.optimizer = textOption(p, "optimizer");
    r.schedule = textOption(p, "schedule");
    r.weightDecay = doubleOption(p, "weight-decay");
    r.labelSmoothing = doubleOption(p, "label-smoothing");
    r.classBalance = textOption(p, "class-balance");
    const core::FinetuneConfig c = accepted(core::buildFinetune(*project, r, runContext()));
    if (group)
        core::checkBatchShards(c.batch, group->size()); // before a run is made
    const std::string id = core::FinetuneJob::create(*project, c);
    if (group)
        group->broadcastString(id);
    return runJob<core::FinetuneJob>(*project, id, group.get(), env.localRank);
}

int runEvaluate(const std::vector<std::string>& args)
{
    ArgParser p("medsiam-cli evaluate PROJECT RUN", "Evaluates a fine-tuned run's last checkpoint on val and test with the\n"
                                                   "current labels, prints the metrics and replaces its stored predictions.");
    p.positional("PROJECT", "project folder").positional("RUN", "a finetune run id");
    p.threadsOption();
    if (!p.parse(args))
        return 0;
    core::configureThreads(p.threads());
    auto project = core::Project::open(p.value("PROJECT"));
    const auto classes = project->classes();
    std::vector<std::string> names;
    for (const auto& c : classes)
        names.push_back(c.name);
    for (const auto& e : core::evaluateRun(*project, p.value("RUN")))
        printMetrics("", e.split, e.metrics, names);
    return 0;
}

int runResume(const std::vector<std::string>& args)
{
    ArgParser p("medsiam-cli resume PROJECT RUN",
                "Continues a pretraining or fine-tuning run from its last checkpoint, with its own configuration and\n"
                "step count.");
    p.positional("PROJECT", "project folder").positional("RUN", "run id (see `medsiam-cli runs PROJECT`)");
    p.threadsOption();
    addDistributedOptions(p);
    if (!p.parse(args))
        return 0;
    Ranks ranks;
    if (const auto launched = startRanks(p, "resume", args, ranks))
        return *launched;
    const core::DistributedEnv& env = ranks.env;
    const auto& group = ranks.group;
    const bool lead = !group || group->rank() == 0;
    auto project = core::Project::open(p.value("PROJECT"), lead ? core::ProjectAccess::ReadWrite : core::ProjectAccess::ReadOnly);
    const std::string id = p.value("RUN");
    const auto r = core::RunStore(*project).find(id);
    if (!r)
        throw core::UserError("no run '" + id + "' in " + project->dir() + " (see `medsiam-cli runs`)");
    if (r->kind == "finetune")
        return runJob<core::FinetuneJob>(*project, id, group.get(), env.localRank);
    if (r->kind != "simsiam-pretrain")
        throw core::UserError("run '" + id + "' is a " + r->kind + "; only pretraining and fine-tuning runs are resumed");
    return runJob<core::PretrainJob>(*project, id, group.get(), env.localRank);
}

int runProbe(const std::vector<std::string>& args)
{
    ArgParser p("medsiam-cli probe PROJECT (--run RUN | --backbone NAME [--init FILE]) [options]",
                "Linear probe: the backbone's features of the labeled train images, a logistic regression on them\n"
                "(L2 chosen by val balanced accuracy), and val/test metrics. The probabilities are stored in the\n"
                "project under the probe's own run.");
    p.positional("PROJECT", "project folder");
    p.option("run", "RUN", "probe the backbone of this pretraining run (its last checkpoint)");
    addBackboneOptions(p, core::ProbeConfig{}.inputSize);
    p.flag("no-class-weights", "do not weight the loss by inverse class frequency")
        .option("label-fractions", "LIST", "label efficiency: also probe with these fractions of the train labels, e.g. 1%,10%,100%")
        .option("draws", "N", "draws of each fraction below 100% (their spread is reported)", "5");
    addDistributedOptions(p);
    if (!p.parse(args))
        return 0;
    Ranks ranks;
    if (const auto launched = startRanks(p, "probe", args, ranks))
        return *launched;
    // Every rank extracts its share of the features; rank 0 makes the run, the others read only.
    const bool follower = ranks.group && ranks.group->rank() != 0;
    auto project = core::Project::open(p.value("PROJECT"), follower ? core::ProjectAccess::ReadOnly : core::ProjectAccess::ReadWrite);
    core::RunRequest r = requestFromOptions(p);
    r.probeRun = textOption(p, "run");
    r.probeUnweighted = p.has("no-class-weights");
    if (p.has("label-fractions"))
        r.labelFractions = core::parseLabelFractions(p.value("label-fractions"));
    r.labelDraws = intOption(p, "draws");
    const core::ProbeConfig c = accepted(core::buildProbe(*project, r, runContext()));
    ConsoleObserver observer;
    const core::ProbeResult res = core::runLinearProbe(*project, c, observer, ranks.group.get());
    if (follower)
        return 0;
    std::printf("probe %s (%s, L2 %g, %.1f s)\n", res.runId.c_str(), c.sourceRun.empty() ? c.model.backbone.name.c_str() : c.sourceRun.c_str(),
                res.chosenL2, res.seconds);
    if (res.hasVal)
        printMetrics("  ", "val", res.val, res.classNames);
    if (res.hasTest)
        printMetrics("  ", "test", res.test, res.classNames);
    if (res.hasKnn)
        std::printf("  kNN (val against train, k 20): accuracy %.3f, balanced accuracy %.3f\n", res.knnAccuracy, res.knnBalancedAccuracy);
    for (const auto& pt : res.labelEfficiency)
        std::printf("  %g%% of the train labels (%lld images, %zu draw%s): %s ROC AUC %.3f +- %.3f, balanced accuracy %.3f +- %.3f\n",
                    pt.fraction * 100, static_cast<long long>(pt.labels), pt.auc.size(), pt.auc.size() == 1 ? "" : "s",
                    pt.split.c_str(), pt.aucMean, pt.aucSd, pt.balancedAccuracyMean, pt.balancedAccuracySd);
    return 0;
}

} // namespace medsiam::cli

namespace medsiam::cli {

namespace {

/// The experiment's progress: a line per stage, and each stage's own progress below it.
class ExperimentConsole : public core::ExperimentObserver {
public:
    void stageStarted(const core::ExperimentStage& s, int index, int total) override
    {
        std::fprintf(stderr, "[%d/%d] %s: %s%s\n", index + 1, total, core::armTitle(s.arm).c_str(), s.stage.c_str(),
                     s.run.empty() ? "" : (" (continuing run " + s.run + ")").c_str());
    }
    void stageEnded(const core::ExperimentStage& s) override
    {
        if (s.state != "completed")
            std::fprintf(stderr, "  %s %s: %s%s%s\n", s.stage.c_str(), s.state.c_str(), s.run.c_str(), s.error.empty() ? "" : ": ",
                         s.error.c_str());
    }
    void step(const core::StepEvent& e) override { m_inner.step(e); }
    void monitor(const core::MonitorEvent& e) override { m_inner.monitor(e); }
    void evaluation(const core::EvalEvent& e) override { m_inner.evaluation(e); }
    void warning(const std::string& m) override { m_inner.warning(m); }
    void stateChanged(core::JobState state, const std::string& message) override
    {
        if (state != core::JobState::Completed)
            m_inner.stateChanged(state, message);
    }

private:
    ConsoleObserver m_inner;
};

void printExperimentResult(core::Project& project, const core::ExperimentResult& r)
{
    const std::string dir = core::experimentDir(project, r.id);
    std::printf("experiment %s%s\n", r.id.c_str(), r.complete ? "" : " (not finished)");
    const auto table = core::readCsv(dir + "/table.csv");
    const int arm = table.column("arm"), knn = table.column("knn_balanced_accuracy_final"), probe = table.column("probe_test_auc"),
              ft = table.column("finetune_test_auc"), secs = table.column("simsiam_seconds");
    std::printf("  %-50s %10s %10s %12s %14s\n", "arm", "SimSiam s", "final kNN", "probe AUC", "fine-tune AUC");
    for (const auto& row : table.rows) {
        auto at = [&](int c) { return c >= 0 && c < int(row.size()) && !row[size_t(c)].empty() ? row[size_t(c)] : std::string("-"); };
        auto num = [&](int c) {
            double v = 0;
            return at(c) != "-" && core::text::parseDouble(at(c), v) ? core::text::formatNumber(std::round(v * 1000) / 1000) : at(c);
        };
        std::printf("  %-50s %10s %10s %12s %14s\n", core::armTitle(at(arm)).c_str(), num(secs).c_str(), num(knn).c_str(), num(probe).c_str(),
                    num(ft).c_str());
    }
    std::printf("\n");
    for (const auto& s : r.finding)
        std::printf("%s\n", s.c_str());
    std::printf("\n");
    for (const auto& f : r.files)
        std::printf("wrote %s/%s\n", dir.c_str(), f.c_str());
}

} // namespace

int runExperiment(const std::vector<std::string>& args)
{
    const core::ExperimentConfig d;
    std::string arms;
    for (const auto& a : core::experimentArms())
        arms += (arms.empty() ? "" : ",") + a;
    ArgParser p("medsiam-cli experiment PROJECT [--budget TIME] [--init FILE | --init-run RUN | --source PROJECT] [options]\n"
                "       medsiam-cli experiment PROJECT --resume ID | --list",
                "The question of Lu, Jha and Huo (2021) on this project's images: does starting SimSiam from a transfer\n"
                "model speed up its convergence, does transfer + SimSiam beat each alone, and does the normalization\n"
                "(GroupNorm + WS kept, or converted to BatchNorm + WS) decide it? With the same data, seed and time\n"
                "budget, it runs SimSiam from random init, from the transfer init with GroupNorm + WS, and converted to\n"
                "BatchNorm + WS (each with the kNN monitor over time), then a linear probe, a label-efficiency probe and\n"
                "a fine-tune of each and of the transfer init alone and random features. Without --init, --init-run or\n"
                "--source, the transfer source is an upstream classifier trained on half a of the labeled train images,\n"
                "and SimSiam runs on half b. Results, a figure and the finding go to PROJECT/experiments/<id>/.\n"
                "Ctrl-C stops after a checkpoint; --resume continues with the stages left.");
    p.positional("PROJECT", "project folder")
        .option("budget", "TIME", "each SimSiam arm's time budget (90s, 10m, 1h)", "10m")
        .option("finetune-budget", "TIME", "each fine-tune's budget (default: a fifth of --budget, at least 30 s)")
        .option("upstream-budget", "TIME", "the upstream transfer source's budget (default: a quarter of --budget)")
        .flag("no-finetune", "probes only, no fine-tunes")
        .option("init", "FILE", "the transfer init: BiT .npz, timm/torchvision weights or a medsiam checkpoint")
        .option("init-run", "RUN", "the transfer init: a run of this project")
        .option("source", "PROJECT", "the transfer init: a run of another project (its latest classifier, else SimSiam run)")
        .option("source-run", "RUN", "with --source: that project's run")
        .option("backbone", "NAME", std::string("the network of every arm (default: ") + core::kDefaultBackbone + ", or the source's)")
        .option("batch", "N", "SimSiam's batch (default: pretrain's)")
        .option("seed", "N", "random seed of every arm", "0")
        .option("label-fractions", "LIST", "label efficiency: fractions of the train labels", "1%,10%,100%")
        .option("draws", "N", "draws of each fraction below 100%", std::to_string(d.labelDraws))
        .option("arms", "LIST", "run only these arms: " + arms)
        .option("resume", "ID", "continue an interrupted experiment")
        .flag("list", "list the project's experiments");
    addComputeOptions(p);
    if (!p.parse(args))
        return 0;
    core::configureThreads(p.threads());
    auto project = core::Project::open(p.value("PROJECT"));
    if (p.has("list")) {
        const auto ids = core::listExperiments(*project);
        if (ids.empty())
            std::printf("no experiments yet\n");
        for (const auto& id : ids) {
            const auto r = core::summarizeExperiment(*project, id);
            int done = 0;
            for (const auto& s : r.stages)
                done += s.state == "completed";
            std::printf("%s  %d of %zu stages completed%s\n", id.c_str(), done, r.stages.size(), r.complete ? "" : " (resume to finish)");
        }
        return 0;
    }
    std::string id;
    if (p.has("resume")) {
        id = p.value("resume");
        std::fprintf(stderr, "resuming experiment %s\n", id.c_str());
    } else {
        core::ExperimentConfig c;
        c.armSeconds = core::parseDuration(p.value("budget"));
        if (p.has("finetune-budget"))
            c.finetuneSeconds = core::parseDuration(p.value("finetune-budget"));
        if (p.has("upstream-budget"))
            c.upstreamSeconds = core::parseDuration(p.value("upstream-budget"));
        c.finetune = !p.has("no-finetune");
        c.initFile = p.value("init");
        c.initRun = p.value("init-run");
        c.sourceProject = p.value("source");
        c.sourceRun = p.value("source-run");
        c.backbone = p.value("backbone");
        c.batch = p.has("batch") ? p.intValue("batch", 1, 1 << 20) : 0;
        c.seed = static_cast<uint64_t>(p.intValue("seed", 0, 2147483647));
        c.labelFractions = core::parseLabelFractions(p.value("label-fractions"));
        c.labelDraws = p.intValue("draws", 1, 100);
        if (p.has("arms"))
            for (const auto& a : core::text::split(p.value("arms"), ','))
                if (!core::text::trim(a).empty())
                    c.arms.push_back(core::text::trim(a));
        c.cuda = p.has("cuda");
        c.bf16 = bf16Option(p);
        id = core::ExperimentJob::create(*project, c, runContext());
        std::fprintf(stderr, "experiment %s: %s per SimSiam arm, about %s in all (plus seconds per probe)\n", id.c_str(),
                     core::formatDuration(c.armSeconds).c_str(), core::text::humanDuration(c.plannedSeconds()).c_str());
    }
    core::ExperimentJob job(*project, id);
    ExperimentConsole observer;
    const core::JobState state = runInterruptible([&](core::JobControl& control) { return job.run(observer, control); });
    if (state == core::JobState::Failed)
        return 1;
    auto result = job.result();
    for (const auto& f : writeExperimentFigureFiles(*project, id))
        result.files.push_back(std::filesystem::path(f).filename().string());
    printExperimentResult(*project, result);
    if (state == core::JobState::Cancelled) {
        std::printf("experiment %s stopped; continue with: medsiam-cli experiment %s --resume %s\n", id.c_str(), project->dir().c_str(), id.c_str());
        return 130;
    }
    return 0;
}

} // namespace medsiam::cli

namespace medsiam::cli {

namespace {

/// The chain's progress on one line, and the runs it starts.
class ChainConsole : public core::ClassifierChainObserver {
public:
    void stageStarted(const std::string& stage, const std::string& runId) override
    {
        m_line.finish();
        std::fprintf(stderr, "%s: run %s\n",
                     stage == "simsiam" ? "learning from all the images (SimSiam)" : "training the classifier on the labeled images",
                     runId.c_str());
    }
    void progress(double fraction, const std::string& text) override
    {
        char buf[256];
        std::snprintf(buf, sizeof buf, "%3.0f%%  %s", 100 * fraction, text.c_str());
        m_line.update(buf, fraction >= 1);
    }
    void warning(const std::string& message) override
    {
        m_line.finish();
        std::fprintf(stderr, "warning: %s\n", message.c_str());
    }
    void stateChanged(core::JobState state, const std::string&) override
    {
        if (state == core::JobState::Cancelling) {
            m_line.finish();
            std::fprintf(stderr, "stopping: writing a checkpoint...\n");
        }
    }

private:
    ProgressLine m_line;
};

} // namespace

int runTrainClassifier(const std::vector<std::string>& args)
{
    ArgParser p("medsiam-cli train-classifier PROJECT [--budget TIME] [--mode quick|best]",
                "Trains a classifier the guided way (the desktop app's Train > Train a Classifier): checks that the\n"
                "project has enough labeled images of each class, then within the time budget either fine-tunes only\n"
                "(quick) or first learns from every image outside val and test, labeled or not, with SimSiam and then\n"
                "fine-tunes from it (best). Prints the result in plain words, with its warnings. The runs are ordinary\n"
                "runs of the project (medsiam-cli runs lists them).");
    p.positional("PROJECT", "project folder")
        .option("budget", "TIME", "the whole chain's time budget (90s, 10m, 1h30m)", "10m")
        .option("mode", "MODE", "quick (fine-tune only) or best (SimSiam first, then fine-tune)", "best")
        .option("seed", "N", "random seed")
        .flag("check", "only say whether the project is ready, and what is missing");
    addComputeOptions(p);
    if (!p.parse(args))
        return 0;
    core::configureThreads(p.threads());
    auto project = core::Project::open(p.value("PROJECT"));
    const core::ClassifierReadiness ready = core::assessClassifierReadiness(*project);
    std::printf("%lld images, %lld labeled, %lld unlabeled, %lld patients\n", static_cast<long long>(ready.images),
                static_cast<long long>(ready.labeled), static_cast<long long>(ready.unlabeled), static_cast<long long>(ready.patients));
    for (const auto& c : ready.classes)
        std::printf("  %-20s train %lld, val %lld, test %lld\n", c.name.c_str(), static_cast<long long>(c.train),
                    static_cast<long long>(c.val), static_cast<long long>(c.test));
    for (const auto& m : ready.missing)
        std::printf("missing: %s\n", m.c_str());
    for (const auto& c : ready.cautions)
        std::printf("note: %s\n", c.c_str());
    if (p.has("check"))
        return ready.ready() ? 0 : 1;
    if (!ready.ready())
        return 1;
    core::ClassifierPlan plan;
    const auto mode = core::parseClassifierMode(p.value("mode"));
    if (!mode)
        throw core::UserError("--mode is quick or best, not '" + p.value("mode") + "'");
    plan.mode = *mode;
    plan.budgetSeconds = core::parseDuration(p.value("budget"));
    if (p.has("seed"))
        plan.seed = static_cast<uint64_t>(p.intValue("seed", 0, 2147483647));
    plan.bf16 = bf16Option(p);
    plan.cuda = p.has("cuda");
    plan.validate();
    ChainConsole observer;
    core::ClassifierChainResult result;
    runInterruptible([&](core::JobControl& control) {
        result = core::runClassifierChain(*project, plan, runContext(), observer, control);
        return result.state;
    });
    if (result.state == core::JobState::Failed) {
        std::fprintf(stderr, "error: %s\n", result.message.c_str());
        return 1;
    }
    if (result.state == core::JobState::Cancelled) {
        const std::string& run = result.finetuneRun.empty() ? result.pretrainRun : result.finetuneRun;
        std::printf("stopped; continue run %s with: medsiam-cli resume %s %s\n", run.c_str(), project->dir().c_str(), run.c_str());
        return 130;
    }
    const auto summary = core::FinetuneSummary::read(core::RunStore(*project).readSummary(result.finetuneRun));
    std::printf("classifier: run %s%s\n", result.finetuneRun.c_str(),
                result.pretrainRun.empty() ? "" : (" (from SimSiam run " + result.pretrainRun + ")").c_str());
    std::printf("%s\n", core::plainWordsResult(summary).c_str());
    for (const auto& w : summary.warnings)
        std::printf("warning: %s\n", w.c_str());
    return 0;
}

} // namespace medsiam::cli
