// medsiam-cli pretrain | resume | probe (run by medsiam-cli-engine)
#include "ArgParser.h"
#include "Commands.h"
#include "ProgressLine.h"

#include "project/Project.h"
#include "system/Runtime.h"
#include "train/LinearProbe.h"
#include "train/PretrainJob.h"
#include "train/Features.h"
#include "util/Error.h"
#include "util/Text.h"

#include <csignal>
#include <cstdio>
#include <iostream>

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
        char buf[256];
        std::snprintf(buf, sizeof buf, "step %lld/%lld  epoch %lld  loss %.4f  lr %.4f  %.0f img/s  std %.3f (healthy %.3f)  ETA %s",
                      static_cast<long long>(e.step), static_cast<long long>(e.totalSteps), static_cast<long long>(e.epoch), e.loss,
                      e.lr, e.imagesPerSecond, e.collapseStd, e.collapseHealthy, core::text::humanDuration(e.etaSeconds).c_str());
        m_line.update(buf, e.step == e.totalSteps);
    }
    void monitor(const core::MonitorEvent& e) override
    {
        m_line.finish();
        std::fprintf(stderr, "kNN monitor at step %lld: val accuracy %.3f, balanced accuracy %.3f (%lld train neighbours, %lld val images)\n",
                     static_cast<long long>(e.step), e.knnAccuracy, e.knnBalancedAccuracy, static_cast<long long>(e.bank),
                     static_cast<long long>(e.queries));
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

int runJob(core::Project& project, const std::string& id)
{
    core::PretrainJob job(project, id);
    const int64_t from = job.resumeStep();
    if (from > 0)
        std::fprintf(stderr, "resuming run %s from step %lld of %lld\n", id.c_str(), static_cast<long long>(from),
                     static_cast<long long>(job.config().steps));
    else
        std::fprintf(stderr, "run %s: SimSiam, %s (%s), %lld steps of batch %d at %d px\n", id.c_str(),
                     job.config().model.backbone.name.c_str(), core::toString(job.config().model.backbone.norm),
                     static_cast<long long>(job.config().steps), job.config().batch, job.config().inputSize);
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
        .option("size", "PX", "network input size", "64")
        .option("seed", "N", "random seed", "0")
        .option("threads", "N", "CPU threads (0: all cores)", "0")
        .flag("bf16", "bf16 autocast (CPUs with AVX512-BF16, or CUDA)");
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
        .option("checkpoint-every", "N", "steps between checkpoints", "50")
        .option("monitor-every", "N", "steps between kNN monitors (0: every epoch)", "0")
        .flag("no-stop-gradient", "drop SimSiam's stop-gradient (to see collapse happen)")
        .multiOption("no-aug", "PART", "switch off an augmentation: crop, flip, jitter, grayscale or blur");
    if (!p.parse(args)) {
        std::cout << p.help();
        return 0;
    }
    core::configureThreads(p.intValue("threads", 0, 1024));
    auto project = core::Project::open(p.value("PROJECT"));
    core::PretrainConfig c;
    c.model = modelFromOptions(p, *project);
    c.model.simsiamHeads = true;
    c.model.heads.norm = core::parseHeadNorm(p.value("head-norm"));
    c.model.heads.validate();
    if (p.has("init"))
        c.initWeights = p.value("init");
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
    for (const auto& part : p.values("no-aug")) {
        if (part == "crop")
            c.augment.crop = false;
        else if (part == "flip")
            c.augment.flip = false;
        else if (part == "jitter")
            c.augment.colorJitter = false;
        else if (part == "grayscale")
            c.augment.grayscale = false;
        else if (part == "blur")
            c.augment.blur = false;
        else
            throw UsageError("--no-aug takes crop, flip, jitter, grayscale or blur, not '" + part + "'");
    }
    const std::string id = core::PretrainJob::create(*project, c);
    return runJob(*project, id);
}

int runResume(const std::vector<std::string>& args)
{
    ArgParser p("medsiam-cli resume PROJECT RUN",
                "Continues a pretraining run from its last checkpoint, with its own configuration and step count.");
    p.positional("PROJECT", "project folder").positional("RUN", "run id (see `medsiam-cli runs PROJECT`)");
    p.option("threads", "N", "CPU threads (0: all cores)", "0");
    if (!p.parse(args)) {
        std::cout << p.help();
        return 0;
    }
    core::configureThreads(p.intValue("threads", 0, 1024));
    auto project = core::Project::open(p.value("PROJECT"));
    return runJob(*project, p.value("RUN"));
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
    if (!p.parse(args)) {
        std::cout << p.help();
        return 0;
    }
    core::configureThreads(p.intValue("threads", 0, 1024));
    auto project = core::Project::open(p.value("PROJECT"));
    core::ProbeConfig c;
    if (p.has("run")) {
        c.sourceRun = p.value("run");
    } else {
        c.model = modelFromOptions(p, *project);
        if (p.has("init"))
            c.initWeights = p.value("init");
    }
    c.inputSize = p.intValue("size", 16, 4096);
    c.bf16 = p.has("bf16");
    c.seed = static_cast<uint64_t>(p.intValue("seed", 0, 2147483647));
    c.classWeighted = !p.has("no-class-weights");
    ConsoleObserver observer;
    const core::ProbeResult r = core::runLinearProbe(*project, c, observer);
    std::printf("probe %s (%s, L2 %g, %.1f s)\n", r.runId.c_str(), c.sourceRun.empty() ? c.model.backbone.name.c_str() : c.sourceRun.c_str(),
                r.chosenL2, r.seconds);
    auto show = [&](const char* name, const core::ClassificationMetrics& m) {
        std::printf("  %-5s %5lld images  accuracy %.3f  balanced accuracy %.3f  ROC AUC %.3f\n", name, static_cast<long long>(m.samples),
                    m.accuracy, m.balancedAccuracy, m.macroAuc);
        for (int k = 0; k < m.numClasses; ++k)
            std::printf("        %-14s precision %.3f  recall %.3f  F1 %.3f  (%lld)\n", r.classNames[static_cast<size_t>(k)].c_str(),
                        m.precision[k], m.recall[k], m.f1[k], static_cast<long long>(m.support[k]));
    };
    if (r.hasVal)
        show("val", r.val);
    if (r.hasTest)
        show("test", r.test);
    return 0;
}

} // namespace medsiam::cli
