#include "train/FinetuneJob.h"

#include "models/Checkpoint.h"
#include "models/WeightImport.h"
#include "project/Project.h"
#include "project/RunStore.h"
#include "system/TorchCompat.h"
#include "train/Features.h"
#include "train/PretrainJob.h"
#include "train/TrainUtil.h"
#include "util/AtomicFile.h"
#include "util/Error.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

namespace medsiam::core {

namespace fs = std::filesystem;

namespace {

std::vector<float> softmaxRows(const at::Tensor& logits)
{
    auto p = at::softmax(logits.to(at::kFloat), 1).contiguous();
    return std::vector<float>(p.data_ptr<float>(), p.data_ptr<float>() + p.numel());
}

/// Class probabilities of the network on the given cache entries (eval mode, no augmentation).
std::vector<float> predictProbabilities(NetworkImpl& net, const ImageSet& data, const std::vector<int64_t>& idx, int size, bool bf16)
{
    if (idx.empty())
        return {};
    const auto features = extractFeatures(net, data.cache(), idx, size, inputNormalizationFor(net.config().backbone), bf16);
    torch::NoGradGuard guard;
    const auto device = net.parameters().front().device();
    return softmaxRows(net.backbone().forwardHead(features.to(device)).cpu());
}

std::vector<int> labelsOf(const ImageSet& data, const std::vector<int64_t>& idx)
{
    std::vector<int> y;
    for (auto i : idx)
        y.push_back(data.classOf(i));
    return y;
}

/// Evaluates on val and test, stores the predictions under the run, and returns the metrics.
std::vector<EvalEvent> evaluateAndStore(Project& project, const std::string& runId, NetworkImpl& net, const ImageSet& data, int size,
                                        bool bf16, int64_t step)
{
    std::vector<EvalEvent> out;
    std::vector<PredictionRecord> predictions;
    const int k = net.config().backbone.numClasses;
    for (const char* split : {"val", "test"}) {
        const auto idx = data.indices(split, true);
        if (idx.empty())
            continue;
        const auto probs = predictProbabilities(net, data, idx, size, bf16);
        const auto y = labelsOf(data, idx);
        for (size_t i = 0; i < idx.size(); ++i)
            predictions.push_back({data.items()[static_cast<size_t>(idx[i])].imageId, split, y[i],
                                   std::vector<float>(probs.begin() + static_cast<std::ptrdiff_t>(i * k),
                                                      probs.begin() + static_cast<std::ptrdiff_t>((i + 1) * k))});
        out.push_back({step, split, computeMetrics(y, probs, k)});
    }
    project.storePredictions(runId, predictions);
    return out;
}

} // namespace

double FinetuneSchedule::lr(double baseLr, int64_t step) const
{
    if (step < warmupSteps)
        return baseLr * double(step + 1) / double(warmupSteps);
    double lr = baseLr;
    for (int64_t d : decaySteps)
        if (step >= d)
            lr *= 0.1;
    return lr;
}

FinetuneSchedule finetuneSchedule(const FinetuneConfig& c, int64_t examples, int rows, int columns, int cacheSide)
{
    const HyperRule rule = bitHyperRule(examples, rows, columns);
    FinetuneSchedule s;
    s.totalSteps = c.steps > 0 ? c.steps : rule.totalSteps;
    const double scale = double(s.totalSteps) / double(rule.totalSteps);
    s.warmupSteps = static_cast<int64_t>(std::llround(rule.warmupSteps * scale));
    for (int64_t d : rule.decaySteps)
        s.decaySteps.push_back(static_cast<int64_t>(std::llround(d * scale)));
    s.mixupAlpha = c.mixupAlpha >= 0 ? c.mixupAlpha : rule.mixupAlpha;
    // Resolution: the rule's, but never finer than the cache holds (a scaled-down rule for small caches).
    s.crop = c.crop > 0 ? c.crop : std::min(rule.crop, cacheSide);
    s.resize = c.resize > 0 ? c.resize : static_cast<int>(std::lround(double(s.crop) * rule.resize / rule.crop));
    s.resize = std::max(s.resize, s.crop);
    return s;
}

std::string FinetuneJob::create(Project& project, const FinetuneConfig& config, bool checkWeights)
{
    FinetuneConfig::fromJson(config.toJson()); // validates
    config.model.backbone.validate();
    if (checkWeights && !config.initWeights.empty())
        checkInitWeights(config.model, config.initWeights, true);
    return RunStore(project).create("finetune", "finetune", config.toJson());
}

FinetuneJob::FinetuneJob(Project& project, std::string runId) : m_project(project), m_id(std::move(runId))
{
    m_config = FinetuneConfig::fromJson(RunStore(project).readConfig(m_id));
}

int64_t FinetuneJob::resumeStep() const { return checkpointStep(m_project, m_id); }

JobState FinetuneJob::run(JobObserver& observer, JobControl& control)
{
    const FinetuneConfig& c = m_config;
    return runRecorded(m_project, m_id, "finetune", c.toJson(), observer, [&]() -> JobOutcome {
        ImageSet data(m_project);
        if (static_cast<int>(data.classNames().size()) != c.model.backbone.numClasses)
            throw UserError("the project has " + std::to_string(data.classNames().size()) + " classes but the run's head has " +
                            std::to_string(c.model.backbone.numClasses));
        const auto pool = data.indices("train", true, c.subset);
        std::vector<int64_t> perClass(static_cast<size_t>(c.model.backbone.numClasses), 0);
        for (auto i : pool)
            ++perClass[static_cast<size_t>(data.classOf(i))];
        int present = 0;
        for (auto n : perClass)
            present += n > 0;
        if (present < 2)
            throw UserError("fine-tuning needs labeled train images of at least two classes (assign a train split and labels)");
        if (c.model.backbone.inChannels == 1 && m_project.naturalChannels() == 3)
            throw UserError("the project holds colour images but the model takes 1 channel; use --in-channels 3");
        const auto [rows, columns] = m_project.medianImageSize();
        const FinetuneSchedule sched = finetuneSchedule(c, static_cast<int64_t>(pool.size()), rows, columns, data.cache().side());
        const auto device = c.cuda ? at::Device(at::kCUDA) : at::Device(at::kCPU);
        const auto norm = inputNormalizationFor(c.model.backbone);
        const AugmentConfig augment = AugmentConfig::bitFinetune(sched.resize, sched.crop);
        const int channels = c.model.backbone.inChannels;
        const double baseLr = c.lr * c.batch / 512.0;

        RunStore store(m_project);
        const std::string ckptPath = store.checkpointPath(m_id);
        TrainingState state;
        // Initial weights skip the head: a new task starts its head at zero, as in BiT.
        Network net = startNetwork(c.model, c.seed, ckptPath, c.initWeights, true, device, observer, state);
        Sgd sgd(*net, c.momentum, c.weightDecay);
        sgd.load(state.optimizer);
        const int64_t startStep = state.step;
        MetricsLog metrics = store.openMetrics(m_id, startStep);

        at::Tensor classWeights;
        if (c.classWeighted) {
            std::vector<float> w;
            for (auto n : perClass)
                w.push_back(n ? float(pool.size()) / float(present * n) : 0.f);
            classWeights = at::tensor(w).to(device);
        }
        // The sample stream: consecutive epoch permutations (or class-balanced draws), by step.
        auto sampleBatch = [&](int64_t step) {
            std::vector<int64_t> out;
            out.reserve(static_cast<size_t>(c.batch));
            if (c.balancedSampler) {
                std::mt19937_64 rng(c.seed * 7919ull + uint64_t(step));
                std::vector<std::vector<int64_t>> byClass(perClass.size());
                for (auto i : pool)
                    byClass[static_cast<size_t>(data.classOf(i))].push_back(i);
                std::vector<size_t> nonEmpty;
                for (size_t k = 0; k < byClass.size(); ++k)
                    if (!byClass[k].empty())
                        nonEmpty.push_back(k);
                for (int b = 0; b < c.batch; ++b) {
                    const auto& members = byClass[nonEmpty[rng() % nonEmpty.size()]];
                    out.push_back(members[rng() % members.size()]);
                }
                return out;
            }
            const int64_t n = static_cast<int64_t>(pool.size());
            std::vector<int64_t> perm;
            int64_t permEpoch = -1;
            for (int64_t p = step * c.batch; p < (step + 1) * c.batch; ++p) {
                const int64_t epoch = p / n;
                if (epoch != permEpoch) {
                    perm = pool;
                    std::mt19937_64 shuffle(c.seed * 1000003ull + uint64_t(epoch));
                    std::shuffle(perm.begin(), perm.end(), shuffle);
                    permEpoch = epoch;
                }
                out.push_back(perm[static_cast<size_t>(p % n)]);
            }
            return out;
        };
        auto save = [&](int64_t stepsDone) {
            const int64_t epoch = stepsDone * c.batch / static_cast<int64_t>(pool.size());
            saveTrainingCheckpoint(ckptPath, *net, sgd, stepsDone, epoch, observer);
        };
        auto logEval = [&](const EvalEvent& e) {
            observer.evaluation(e);
            MetricsRecord r;
            r.type = MetricsRecord::Type::Eval;
            r.step = e.step;
            r.split = e.split;
            r.metrics = e.metrics;
            metrics.append(r);
        };
        const auto valIdx = data.indices("val", true);
        const int64_t evalEvery = c.evalEvery > 0 ? c.evalEvery : std::max<int64_t>(1, sched.totalSteps / 10);
        double lastLoss = 0;
        StepTimer timer(startStep, sched.totalSteps);
        for (int64_t step = startStep; step < sched.totalSteps; ++step) {
            control.waitWhilePaused();
            if (control.cancelled()) {
                observer.stateChanged(JobState::Cancelling, "");
                save(step);
                return cancelledAfter(step);
            }
            timer.start();
            const auto batch = sampleBatch(step);
            double lambda = 1.0;
            if (sched.mixupAlpha > 0) {
                std::mt19937_64 rng(c.seed * 104729ull + uint64_t(step));
                std::gamma_distribution<double> g(sched.mixupAlpha, 1.0);
                const double a = g(rng), b = g(rng);
                lambda = a / (a + b);
            }
            sgd.zeroGrad();
            double stepLoss = 0;
            for (int start = 0; start < c.batch; start += c.microBatch) {
                const int end = std::min(c.batch, start + c.microBatch);
                const std::vector<int64_t> chunk(batch.begin() + start, batch.begin() + end);
                auto x = toDevice(makeBatch(data.cache(), chunk, sched.crop, channels, augment, norm, c.seed, step, 0, start), device);
                std::vector<int64_t> labels;
                for (auto i : chunk)
                    labels.push_back(data.classOf(i));
                auto y = at::tensor(labels, at::kLong).to(device);
                at::Tensor loss;
                {
                    compat::Autocast autocast(c.cuda, c.bf16);
                    if (lambda < 1.0)
                        x = x * lambda + x.roll(1, 0) * (1.0 - lambda);
                    auto logp = at::log_softmax(net->classify(x).to(at::kFloat), 1);
                    auto ce = [&](const at::Tensor& target) {
                        return at::nll_loss(logp, target, classWeights, at::Reduction::Sum);
                    };
                    loss = (lambda < 1.0 ? ce(y) * lambda + ce(y.roll(1, 0)) * (1.0 - lambda) : ce(y)) / double(c.batch);
                }
                loss.backward();
                stepLoss += loss.item<double>();
            }
            const double lr = sched.lr(baseLr, step);
            sgd.step([&](const std::string&) { return lr; });
            lastLoss = stepLoss;
            checkLoss(lastLoss, step);
            StepEvent e = timer.done(step, c.batch);
            e.epoch = (step + 1) * c.batch / static_cast<int64_t>(pool.size());
            e.loss = lastLoss;
            e.lr = lr;
            observer.step(e);
            MetricsRecord r = stepRecord(e);
            r.mixupLambda = lambda;
            metrics.append(r);
            if ((step + 1) % evalEvery == 0 && step + 1 < sched.totalSteps && !valIdx.empty()) {
                const auto probs = predictProbabilities(*net, data, valIdx, sched.crop, c.bf16);
                logEval({step + 1, "val", computeMetrics(labelsOf(data, valIdx), probs, c.model.backbone.numClasses)});
            }
            if ((step + 1) % c.checkpointEvery == 0 && step + 1 < sched.totalSteps)
                save(step + 1);
        }
        save(sched.totalSteps);
        nlohmann::ordered_json summary = {{"steps_done", sched.totalSteps}, {"final_loss", lastLoss},
                                          {"schedule", {{"warmup", sched.warmupSteps}, {"decays", sched.decaySteps},
                                                        {"mixup_alpha", sched.mixupAlpha}, {"resize", sched.resize},
                                                        {"crop", sched.crop}}},
                                          {"train_images", pool.size()}, {"classes", data.classNames()}};
        for (const auto& e : evaluateAndStore(m_project, m_id, *net, data, sched.crop, c.bf16, sched.totalSteps)) {
            logEval(e);
            summary[e.split] = nlohmann::json::parse(e.metrics.toJson());
        }
        store.writeSummary(m_id, summary.dump(1));
        return {JobState::Completed, "", summary.dump()};
    });
}

int evaluationSize(Project& project, const std::string& runId)
{
    FinetuneJob job(project, runId);
    ImageSet data(project);
    const auto [rows, columns] = project.medianImageSize();
    const auto pool = data.indices("train", true, job.config().subset);
    return finetuneSchedule(job.config(), static_cast<int64_t>(pool.size()), rows, columns, data.cache().side()).crop;
}

std::vector<EvalEvent> evaluateRun(Project& project, const std::string& runId, bool bf16)
{
    FinetuneJob job(project, runId);
    const std::string ckpt = RunStore(project).lastCheckpoint(runId);
    TrainingState state;
    Network net = loadNetwork(ckpt, &state);
    ImageSet data(project);
    if (static_cast<int>(data.classNames().size()) != net->config().backbone.numClasses)
        throw UserError("the project now has " + std::to_string(data.classNames().size()) + " classes; run '" + runId +
                        "' was trained for " + std::to_string(net->config().backbone.numClasses));
    const auto [rows, columns] = project.medianImageSize();
    const auto pool = data.indices("train", true, job.config().subset);
    const auto sched = finetuneSchedule(job.config(), static_cast<int64_t>(pool.size()), rows, columns, data.cache().side());
    return evaluateAndStore(project, runId, *net, data, sched.crop, bf16, state.step);
}

} // namespace medsiam::core
