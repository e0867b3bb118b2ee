// medsiam-cli pretrain | resume | probe (run by medsiam-cli-engine)
#include "ArgParser.h"
#include "Commands.h"
#include "ProgressLine.h"

#include "project/Project.h"
#include "system/Runtime.h"
#include "train/FinetuneJob.h"
#include "train/LinearProbe.h"
#include "train/PretrainJob.h"
#include "train/Features.h"
#include "util/Error.h"
#include "util/Text.h"

#include <csignal>
#include <cstdio>

namespace medsiam::cli {

namespace {

core::JobControl* g_control = nullptr;
void onInterrupt(int)
{
    if (g_control)
        g_control->token().requestStop(); // async-signal-safe: an atomic store
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

template <typename Job>
int runJob(core::Project& project, const std::string& id)
{
    Job job(project, id);
    const int64_t from = job.resumeStep();
    if (from > 0)
        std::fprintf(stderr, "resuming run %s from step %lld\n", id.c_str(), static_cast<long long>(from));
    else
        std::fprintf(stderr, "run %s: %s (%s), batch %d\n", id.c_str(), job.config().model.backbone.name.c_str(),
                     core::toString(job.config().model.backbone.norm), job.config().batch);
    core::JobControl control;
    ConsoleObserver observer;
    g_control = &control;
    std::signal(SIGINT, onInterrupt);
    std::signal(SIGTERM, onInterrupt);
    const core::JobState state = job.run(observer, control);
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    g_control = nullptr;
    const std::string dir = core::runDir(project, id);
    switch (state) {
    case core::JobState::Completed:
        std::printf("run %s completed: %s\n", id.c_str(), (dir + "/summary.json").c_str());
        return 0;
    case core::JobState::Cancelled:
        std::printf("run %s stopped; continue with: medsiam-cli resume %s %s\n", id.c_str(), project.dir().c_str(), id.c_str());
        return 130;
    default:
        return 1;
    }
}

void addBackboneOptions(ArgParser& p)
{
    p.option("backbone", "NAME", "backbone (see `medsiam-cli model list`)", "bit-nano")
        .option("norm", "KIND", "ResNet-v2 normalization: gn_ws (BiT), bn_ws or bn")
        .option("in-channels", "N", "1 or 3; default: 1 when every image is grayscale")
        .option("init", "FILE", "initial weights: BiT .npz, timm/torchvision weights or a medsiam checkpoint")
        .option("init-run", "RUN", "initial weights: the last checkpoint of an earlier run of this project")
        .option("size", "PX", "network input size", "64")
        .option("seed", "N", "random seed", "0")
        .threadsOption()
        .flag("bf16", "bf16 autocast (CPUs with AVX512-BF16, or CUDA)")
        .flag("cuda", "train on the GPU");
}

std::string initFromOptions(const ArgParser& p, core::Project& project)
{
    if (p.has("init") && p.has("init-run"))
        throw UsageError("give --init or --init-run, not both");
    if (p.has("init-run"))
        return core::lastCheckpoint(project, p.value("init-run"));
    return p.has("init") ? p.value("init") : std::string();
}

/// A split's metrics: one summary line, then precision, recall and F1 per class.
void printMetrics(const char* indent, const std::string& split, const core::ClassificationMetrics& m,
                  const std::vector<std::string>& classNames)
{
    std::printf("%s%-5s %5lld images  accuracy %.3f  balanced accuracy %.3f  ROC AUC %.3f\n", indent, split.c_str(),
                static_cast<long long>(m.samples), m.accuracy, m.balancedAccuracy, m.macroAuc);
    for (int k = 0; k < m.numClasses; ++k)
        std::printf("%s      %-14s precision %.3f  recall %.3f  F1 %.3f  (%lld)\n", indent, classNames[static_cast<size_t>(k)].c_str(),
                    m.precision[k], m.recall[k], m.f1[k], static_cast<long long>(m.support[k]));
}

/// --subset: "", "a" or "b".
std::string subsetFromOptions(const ArgParser& p)
{
    const std::string subset = p.has("subset") ? p.value("subset") : std::string();
    if (!subset.empty() && subset != "a" && subset != "b")
        throw UsageError("--subset takes a or b");
    return subset;
}

bool cudaFromOptions(const ArgParser& p)
{
    if (p.has("cuda") && !core::runtimeInfo().cudaAvailable)
        throw core::UserError("--cuda: no CUDA device is available to this LibTorch");
    return p.has("cuda");
}

core::ModelConfig modelFromOptions(const ArgParser& p, core::Project& project)
{
    core::ModelConfig m;
    m.backbone = core::backbonePreset(p.value("backbone"));
    if (p.has("norm")) {
        if (m.backbone.arch != core::BackboneArch::ResNetV2)
            throw UsageError("--norm applies to ResNet-v2 backbones; " + m.backbone.name + " always uses BatchNorm");
        m.backbone.norm = core::parseBackboneNorm(p.value("norm"));
    }
    m.backbone.inChannels = p.has("in-channels") ? p.intValue("in-channels", 1, 3) : core::ImageSet(project).naturalChannels();
    if (m.backbone.inChannels == 2)
        throw UsageError("--in-channels must be 1 or 3");
    m.heads = core::defaultHeads(m.backbone);
    return m;
}

} // namespace

int runPretrain(const std::vector<std::string>& args)
{
    ArgParser p("medsiam-cli pretrain PROJECT [options]",
                "SimSiam self-supervised pretraining on the project's images outside val and test, optionally\n"
                "starting from BiT (or any) weights. Writes runs/<id>/ in the project; Ctrl-C writes a checkpoint\n"
                "and stops, and `medsiam-cli resume` continues.");
    p.positional("PROJECT", "project folder");
    addBackboneOptions(p);
    p.option("steps", "N", "training steps", "300")
        .option("batch", "N", "batch size", "64")
        .option("lr", "LR", "base learning rate (lr = base x batch / 256, cosine decay)", "0.05")
        .option("warmup", "N", "linear warmup steps", "0")
        .option("weight-decay", "WD", "weight decay", "1e-4")
        .option("head-norm", "KIND", "projector/predictor normalization: bn, gn, ln or none", "bn")
        .option("projector-dim", "N", "projector dimension (default: 2048, scaled down for small backbones)")
        .option("predictor-dim", "N", "predictor bottleneck (default: projector / 4)")
        .option("projector-layers", "N", "projector layers: 2 or 3", "3")
        .option("checkpoint-every", "N", "steps between checkpoints", "50")
        .option("monitor-every", "N", "steps between kNN monitors (0: every epoch)", "0")
        .option("subset", "a|b", "train on one deterministic half of the images (for upstream/SimSiam chains)")
        .flag("no-stop-gradient", "drop SimSiam's stop-gradient (to see collapse happen)")
        .multiOption("no-aug", "PART", "switch off an augmentation: crop, flip, jitter, grayscale or blur")
        .multiOption("aug", "PART", "switch an augmentation back on (over the project's defaults)")
        .flag("save-aug", "make this run's augmentation the project's default for later runs");
    if (!p.parse(args))
        return 0;
    core::configureThreads(p.threads());
    auto project = core::Project::open(p.value("PROJECT"));
    core::PretrainConfig c;
    c.model = modelFromOptions(p, *project);
    c.model.simsiamHeads = true;
    c.model.heads.norm = core::parseHeadNorm(p.value("head-norm"));
    if (p.has("projector-dim")) {
        c.model.heads.projectorDim = p.intValue("projector-dim", 2, 65536);
        c.model.heads.predictorHidden = std::max(1, c.model.heads.projectorDim / 4);
    }
    if (p.has("predictor-dim"))
        c.model.heads.predictorHidden = p.intValue("predictor-dim", 1, 65536);
    c.model.heads.projectorLayers = p.intValue("projector-layers", 2, 3);
    c.model.heads.validate();
    c.initWeights = initFromOptions(p, *project);
    c.cuda = cudaFromOptions(p);
    c.subset = subsetFromOptions(p);
    c.steps = p.intValue("steps", 1, 100000000);
    c.batch = p.intValue("batch", 2, 65536);
    c.inputSize = p.intValue("size", 16, 4096);
    c.baseLr = p.doubleValue("lr", 1e-8, 100);
    c.warmupSteps = p.intValue("warmup", 0, 100000000);
    c.weightDecay = p.doubleValue("weight-decay", 0, 1);
    c.seed = static_cast<uint64_t>(p.intValue("seed", 0, 2147483647));
    c.bf16 = p.has("bf16");
    c.checkpointEvery = p.intValue("checkpoint-every", 1, 100000000);
    c.monitorEvery = p.intValue("monitor-every", 0, 100000000);
    c.stopGradient = !p.has("no-stop-gradient");
    // Augmentation: the project's defaults (set by --save-aug or the GUI), then this run's switches.
    c.augment = core::AugmentConfig::fromJson(project->setting("augment", "{}"));
    auto setPart = [&](const std::string& part, bool on, const char* option) {
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
            throw UsageError(std::string(option) + " takes crop, flip, jitter, grayscale or blur, not '" + part + "'");
    };
    for (const auto& part : p.values("aug"))
        setPart(part, true, "--aug");
    for (const auto& part : p.values("no-aug"))
        setPart(part, false, "--no-aug");
    if (p.has("save-aug"))
        project->setSetting("augment", c.augment.toJson());
    const std::string id = core::PretrainJob::create(*project, c);
    return runJob<core::PretrainJob>(*project, id);
}

int runFinetune(const std::vector<std::string>& args)
{
    ArgParser p("medsiam-cli finetune PROJECT [options]",
                "Trains a classifier on the labeled train images with BiT-HyperRule defaults (SGD lr 0.003 at batch\n"
                "512 by micro-batches, momentum 0.9, no weight decay, warmup and x0.1 decays by dataset size, MixUp\n"
                "from 20k images, resolution by image size), then evaluates on val and test and stores the\n"
                "predictions. Start from BiT weights (--init), a SimSiam run (--init-run) or random; the same\n"
                "command trains an upstream transfer source on any labeled project.");
    p.positional("PROJECT", "project folder");
    addBackboneOptions(p);
    p.option("steps", "N", "training steps (default: the HyperRule's; other values scale its schedule)")
        .option("batch", "N", "effective batch size", "512")
        .option("micro-batch", "N", "images per forward pass (gradients accumulate up to --batch)", "64")
        .option("lr", "LR", "learning rate at batch 512 (scaled linearly with --batch)", "0.003")
        .option("resize", "PX", "resize before the random crop (default: the HyperRule's, scaled to the cache)")
        .option("mixup", "ALPHA", "MixUp alpha (default: 0.1 from 20k train images, else off)")
        .option("checkpoint-every", "N", "steps between checkpoints", "50")
        .option("eval-every", "N", "steps between validations (0: ten per run)", "0")
        .option("subset", "a|b", "train on one deterministic half of the labeled train images")
        .flag("class-weighted", "weight the loss by inverse class frequency")
        .flag("balanced-sampler", "draw every class equally often");
    if (!p.parse(args))
        return 0;
    core::configureThreads(p.threads());
    auto project = core::Project::open(p.value("PROJECT"));
    core::FinetuneConfig c;
    c.model = modelFromOptions(p, *project);
    c.model.backbone.numClasses = static_cast<int>(project->classes().size());
    if (c.model.backbone.numClasses < 2)
        throw core::UserError("the project has " + std::to_string(c.model.backbone.numClasses) +
                              " classes; fine-tuning needs labeled images of at least two");
    c.initWeights = initFromOptions(p, *project);
    c.cuda = cudaFromOptions(p);
    if (p.has("steps"))
        c.steps = p.intValue("steps", 1, 100000000);
    c.batch = p.intValue("batch", 1, 1 << 20);
    c.microBatch = std::min(c.batch, p.intValue("micro-batch", 1, 1 << 20));
    c.lr = p.doubleValue("lr", 1e-8, 100);
    if (p.has("size"))
        c.crop = p.intValue("size", 16, 4096);
    if (p.has("resize"))
        c.resize = p.intValue("resize", 16, 8192);
    if (p.has("mixup"))
        c.mixupAlpha = p.doubleValue("mixup", 0, 100);
    c.checkpointEvery = p.intValue("checkpoint-every", 1, 100000000);
    c.evalEvery = p.intValue("eval-every", 0, 100000000);
    c.subset = subsetFromOptions(p);
    c.classWeighted = p.has("class-weighted");
    c.balancedSampler = p.has("balanced-sampler");
    c.seed = static_cast<uint64_t>(p.intValue("seed", 0, 2147483647));
    c.bf16 = p.has("bf16");
    const std::string id = core::FinetuneJob::create(*project, c);
    return runJob<core::FinetuneJob>(*project, id);
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
    if (!p.parse(args))
        return 0;
    core::configureThreads(p.threads());
    auto project = core::Project::open(p.value("PROJECT"));
    const std::string id = p.value("RUN");
    if (const auto r = project->run(id); r && r->kind == "finetune")
        return runJob<core::FinetuneJob>(*project, id);
    return runJob<core::PretrainJob>(*project, id);
}

int runProbe(const std::vector<std::string>& args)
{
    ArgParser p("medsiam-cli probe PROJECT (--run RUN | --backbone NAME [--init FILE]) [options]",
                "Linear probe: the backbone's features of the labeled train images, a logistic regression on them\n"
                "(L2 chosen by val balanced accuracy), and val/test metrics. The probabilities are stored in the\n"
                "project under the probe's own run.");
    p.positional("PROJECT", "project folder");
    p.option("run", "RUN", "probe the backbone of this pretraining run (its last checkpoint)");
    addBackboneOptions(p);
    p.flag("no-class-weights", "do not weight the loss by inverse class frequency");
    if (!p.parse(args))
        return 0;
    core::configureThreads(p.threads());
    auto project = core::Project::open(p.value("PROJECT"));
    core::ProbeConfig c;
    if (p.has("run")) {
        c.sourceRun = p.value("run");
    } else {
        c.model = modelFromOptions(p, *project);
        c.initWeights = initFromOptions(p, *project);
    }
    c.inputSize = p.intValue("size", 16, 4096);
    c.bf16 = p.has("bf16");
    c.seed = static_cast<uint64_t>(p.intValue("seed", 0, 2147483647));
    c.classWeighted = !p.has("no-class-weights");
    ConsoleObserver observer;
    const core::ProbeResult r = core::runLinearProbe(*project, c, observer);
    std::printf("probe %s (%s, L2 %g, %.1f s)\n", r.runId.c_str(), c.sourceRun.empty() ? c.model.backbone.name.c_str() : c.sourceRun.c_str(),
                r.chosenL2, r.seconds);
    if (r.hasVal)
        printMetrics("  ", "val", r.val, r.classNames);
    if (r.hasTest)
        printMetrics("  ", "test", r.test, r.classNames);
    return 0;
}

} // namespace medsiam::cli
