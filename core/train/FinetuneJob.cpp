#include "train/FinetuneJob.h"

#include "train/DeviceAugment.h"
#include "train/Distributed.h"

#include "models/Checkpoint.h"
#include "models/WeightImport.h"
#include "project/Project.h"
#include "project/RunStore.h"
#include "system/Runtime.h"
#include "system/TorchCompat.h"
#include "train/Features.h"
#include "train/PretrainJob.h"
#include "train/TrainUtil.h"
#include "util/AtomicFile.h"
#include "util/Error.h"
#include "util/Prefetcher.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <set>

namespace medsiam::core {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

/// The most of a budget that validation passes may take.
constexpr double kValidationShare = 0.1;
double secondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

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
    // The predictions of unlabeled images that `predict` stored stay; those of labeled images are
    // this evaluation's.
    std::set<int64_t> evaluated;
    for (const auto& p : predictions)
        evaluated.insert(p.imageId);
    for (auto& p : project.predictions(runId))
        if (p.truth < 0 && !evaluated.count(p.imageId))
            predictions.push_back(std::move(p));
    project.storePredictions(runId, predictions);
    return out;
}

/// The per-class counts of the labeled train images in `pool`.
std::vector<int64_t> classCounts(const ImageSet& data, const std::vector<int64_t>& pool, int classes)
{
    std::vector<int64_t> perClass(static_cast<size_t>(classes), 0);
    for (auto i : pool)
        ++perClass[static_cast<size_t>(data.classOf(i))];
    return perClass;
}

/// One fine-tuning run's training, from its first (or resumed) step to the selected checkpoint's
/// evaluation. Made by FinetuneJob::run inside runRecorded.
class FinetuneRun {
public:
    FinetuneRun(Project& project, const std::string& runId, FinetuneConfig& config, JobObserver& observer, JobControl& control,
                ProcessGroup* group, int localRank)
        : m_project(project), m_id(runId), c(config), m_observer(observer), m_control(control), m_store(project),
          m_length(config.budgetSeconds, config.steps), m_group(group), m_localRank(localRank),
          m_rank(group ? group->rank() : 0), m_world(group ? group->size() : 1), m_lead(m_rank == 0)
    {
    }
    JobOutcome run();

private:
    void prepare();
    /// Times forward and backward passes that change nothing, to plan a budgeted run.
    void calibrate();
    std::vector<int64_t> sampleBatch(int64_t step) const;
    /// The host's share of one micro-batch, made ahead of its turn by m_prefetch: key j of step s
    /// is s * microBatchesPerStep() + j.
    struct MicroBatch {
        HostBatch host;
        std::vector<int64_t> labels;
    };
    int64_t microBatchesPerStep() const;
    MicroBatch prepareMicroBatch(int64_t key);
    /// Forward and backward of one micro-batch (mixed with its roll by `lambda` < 1); its share of the step's loss.
    double microBatchLoss(at::Tensor x, const std::vector<int64_t>& labels, double lambda);
    /// A micro-batch of `failed` images ran out of memory: throws UserError naming the largest that
    /// fits (on a GPU; on the CPU, half to try).
    [[noreturn]] void outOfMemory(int failed);
    /// Forward and backward of step `step`'s batch; returns the loss.
    double forwardBackward(int64_t step);
    void trainStep(int64_t step);
    void validate(int64_t stepsDone);
    /// A budgeted run re-sizes itself to what is left; `record` writes the plan to config.json.
    void replan(int64_t stepsDone, bool record);
    int validationsLeft(int64_t stepsDone) const;
    bool validationDue(int64_t stepsDone) const;
    void save(int64_t stepsDone);
    void logEval(const EvalEvent& e);
    JobOutcome finish(int64_t stepsDone, bool outOfTime);
    /// With other ranks: whether to stop (any rank's cancel), and rank 0's plan and stop.
    void agree(bool& cancel, bool& stop, bool& outOfTime);

    Project& m_project;
    std::string m_id;
    FinetuneConfig& c;
    JobObserver& m_observer;
    JobControl& m_control;
    RunStore m_store;
    RunLength m_length;
    ProcessGroup* m_group;
    int m_localRank, m_rank, m_world;
    bool m_lead; ///< rank 0 (or alone): validates, evaluates, writes the run
    int m_shard = 0; ///< this rank's share of each step's batch

    std::unique_ptr<ImageSet> m_data;
    std::vector<int64_t> m_pool, m_valIdx, m_testIdx;
    std::vector<int64_t> m_perClass;
    FinetuneSchedule m_sched;
    at::Device m_device{at::kCPU};
    InputNormalization m_norm = InputNormalization::MinusOneToOne;
    double m_baseLr = 0;
    Network m_net{nullptr};
    std::unique_ptr<Optimizer> m_optimizer;
    int64_t m_startStep = 0;
    std::optional<MetricsLog> m_metrics;
    at::Tensor m_classWeights;
    std::vector<std::vector<int64_t>> m_byClass;
    double m_lastLoss = 0;
    double m_bestScore = -std::numeric_limits<double>::infinity();
    int64_t m_bestStep = -1;
    int m_validations = 0;  ///< validation passes over the whole run (c.validations, fewer on a tight budget)
    std::vector<int64_t> m_sampled; ///< sampleBatch(m_sampledStep), for prepareMicroBatch
    int64_t m_sampledStep = -1;
    std::unique_ptr<Prefetcher<MicroBatch>> m_prefetch; ///< last: stops before what it reads goes
};

void FinetuneRun::prepare()
{
    m_data = std::make_unique<ImageSet>(m_project);
    const int classes = c.model.backbone.numClasses;
    if (static_cast<int>(m_data->classNames().size()) != classes)
        throw UserError("the project has " + std::to_string(m_data->classNames().size()) + " classes but the run's head has " +
                        std::to_string(classes));
    m_pool = m_data->indices("train", true, c.subset);
    m_perClass = classCounts(*m_data, m_pool, classes);
    int present = 0;
    for (auto n : m_perClass)
        present += n > 0;
    if (present < 2)
        throw UserError("fine-tuning needs labeled train images of at least two classes (assign a train split and labels)");
    if (c.model.backbone.inChannels == 1 && m_project.naturalChannels() == 3)
        throw UserError("the project holds colour images but the model takes 1 channel; use --in-channels 3");
    const auto [rows, columns] = m_project.medianImageSize();
    m_sched = finetuneSchedule(c, static_cast<int64_t>(m_pool.size()), rows, columns, m_data->cache().side());
    m_device = c.cuda ? at::Device(at::kCUDA, static_cast<at::DeviceIndex>(m_localRank)) : at::Device(at::kCPU);
    m_norm = inputNormalizationFor(c.model.backbone);
    checkBatchShards(c.batch, m_world);
    m_shard = c.batch / m_world;
    // The HyperRule's lr is for batch 512 and scales with the batch; the AdamW recipe's is used as given.
    m_baseLr = c.recipe == kRecipeHyperRule ? c.lr * c.batch / 512.0 : c.lr;
    m_valIdx = m_data->indices("val", true);
    m_validations = std::max(1, c.validations);
    m_testIdx = m_data->indices("test", true);

    TrainingState state;
    // Initial weights skip the head: a new task starts its head at zero, as in BiT.
    m_net = startNetwork(c.model, c.seed, m_store.checkpointPath(m_id), c.initWeights, true, m_device, m_observer, state);
    m_optimizer = makeOptimizer(c.optimizer, *m_net, c.momentum, c.weightDecay);
    m_optimizer->load(state.optimizer);
    m_startStep = state.step;
    if (!m_length.budgeted())
        m_length.setSteps(m_sched.totalSteps);
    m_length.resume(state.extraJson);
    if (m_lead)
        m_metrics.emplace(m_store.openMetrics(m_id, m_startStep));
    if (m_group)
        startTogether(*m_group, *m_net, c.batch, c.microBatch, m_observer);
    if (fs::exists(m_store.checkpointPath(m_id, true)) && m_startStep > 0) {
        const auto best = readCheckpoint(m_store.checkpointPath(m_id, true));
        const auto extra = nlohmann::json::parse(best.state.extraJson, nullptr, false);
        if (extra.is_object() && extra.contains("val_score") && extra["val_score"].is_number()) {
            m_bestScore = extra["val_score"].get<double>();
            m_bestStep = best.state.step;
        }
    }
    if (c.classWeighted) {
        std::vector<float> w;
        for (auto n : m_perClass)
            w.push_back(n ? float(m_pool.size()) / float(present * n) : 0.f);
        m_classWeights = at::tensor(w).to(m_device);
    }
    m_byClass.assign(m_perClass.size(), {});
    for (auto i : m_pool)
        m_byClass[static_cast<size_t>(m_data->classOf(i))].push_back(i);
    m_prefetch = std::make_unique<Prefetcher<MicroBatch>>([this](int64_t key) { return prepareMicroBatch(key); }, prefetchBatches(m_device.is_cuda()));
}

// The sample stream: consecutive epoch permutations (or class-balanced draws), by step.
std::vector<int64_t> FinetuneRun::sampleBatch(int64_t step) const
{
    std::vector<int64_t> out;
    out.reserve(static_cast<size_t>(c.batch));
    if (c.balancedSampler) {
        std::mt19937_64 rng(c.seed * 7919ull + uint64_t(step));
        std::vector<size_t> nonEmpty;
        for (size_t k = 0; k < m_byClass.size(); ++k)
            if (!m_byClass[k].empty())
                nonEmpty.push_back(k);
        for (int b = 0; b < c.batch; ++b) {
            const auto& members = m_byClass[nonEmpty[rng() % nonEmpty.size()]];
            out.push_back(members[rng() % members.size()]);
        }
        return out;
    }
    const int64_t n = static_cast<int64_t>(m_pool.size());
    std::vector<int64_t> perm;
    int64_t permEpoch = -1;
    for (int64_t p = step * c.batch; p < (step + 1) * c.batch; ++p) {
        const int64_t epoch = p / n;
        if (epoch != permEpoch) {
            perm = m_pool;
            std::mt19937_64 shuffle(c.seed * 1000003ull + uint64_t(epoch));
            std::shuffle(perm.begin(), perm.end(), shuffle);
            permEpoch = epoch;
        }
        out.push_back(perm[static_cast<size_t>(p % n)]);
    }
    return out;
}

int64_t FinetuneRun::microBatchesPerStep() const { return (m_shard + c.microBatch - 1) / c.microBatch; }

FinetuneRun::MicroBatch FinetuneRun::prepareMicroBatch(int64_t key)
{
    const int64_t chunks = microBatchesPerStep();
    const int64_t step = key / chunks, j = key % chunks;
    if (step != m_sampledStep) {
        m_sampled = sampleBatch(step);
        m_sampledStep = step;
    }
    // This rank's share of the batch, in micro-batches; seeded by their place in the whole batch.
    const int start = m_rank * m_shard + static_cast<int>(j) * c.microBatch;
    const int end = std::min(m_rank * m_shard + m_shard, start + c.microBatch);
    const std::vector<int64_t> chunk(m_sampled.begin() + start, m_sampled.begin() + end);
    MicroBatch mb;
    mb.host = prepareTrainingBatch(m_data->cache(), chunk, m_sched.crop, c.model.backbone.inChannels, m_sched.augment, m_norm, c.seed,
                                   step, 0, m_device, start);
    for (auto i : chunk)
        mb.labels.push_back(m_data->classOf(i));
    return mb;
}

double FinetuneRun::forwardBackward(int64_t step)
{
    double lambda = 1.0;
    if (m_sched.mixupAlpha > 0) {
        std::mt19937_64 rng(c.seed * 104729ull + uint64_t(step));
        std::gamma_distribution<double> g(m_sched.mixupAlpha, 1.0);
        const double a = g(rng), b = g(rng);
        lambda = a / (a + b);
    }
    double stepLoss = 0;
    const int64_t chunks = microBatchesPerStep();
    try {
        for (int64_t j = 0; j < chunks; ++j) {
            MicroBatch mb = m_prefetch->take(step * chunks + j);
            m_prefetch->ahead(step * chunks + j + 1); // the next micro-batch (or the next step's first), made meanwhile
            stepLoss += microBatchLoss(finishTrainingBatch(std::move(mb.host), m_sched.crop, c.model.backbone.inChannels, m_norm, m_device),
                                       mb.labels, lambda);
        }
    } catch (const std::exception& e) {
        if (!isOutOfMemory(e))
            throw;
        outOfMemory(std::min(m_shard, c.microBatch));
    }
    return m_group ? averageOverRanks(*m_group, *m_net, stepLoss) : stepLoss;
}

void FinetuneRun::outOfMemory(int failed)
{
    endOutOfMemory(
        *m_net, *m_optimizer, m_group, m_device, "micro-batch", failed,
        [&](int n) {
            const std::vector<int64_t> some(m_pool.begin(), m_pool.begin() + std::min<int64_t>(n, int64_t(m_pool.size())));
            std::vector<int64_t> labels;
            for (auto i : some)
                labels.push_back(m_data->classOf(i));
            microBatchLoss(makeTrainingBatch(m_data->cache(), some, m_sched.crop, c.model.backbone.inChannels, m_sched.augment, m_norm,
                                             c.seed, 0, 0, m_device),
                           labels, 1.0);
        },
        [&](int n) {
            return "run with --micro-batch " + std::to_string(n) + " (the batch, " + std::to_string(c.batch) +
                   ", stays as it is: more micro-batches make it up)";
        });
}

double FinetuneRun::microBatchLoss(at::Tensor x, const std::vector<int64_t>& labels, double lambda)
{
    auto y = at::tensor(labels, at::kLong).to(m_device);
    at::Tensor loss;
    {
        compat::Autocast autocast(c.cuda, c.bf16);
        if (lambda < 1.0)
            x = x * lambda + x.roll(1, 0) * (1.0 - lambda);
        auto logp = at::log_softmax(m_net->classify(x).to(at::kFloat), 1);
        // Cross-entropy with optional label smoothing: (1 - e) of the true class's NLL plus e of
        // the mean over the classes, each weighted by the class weight of the true class.
        auto ce = [&](const at::Tensor& target) {
            auto nll = at::nll_loss(logp, target, m_classWeights, at::Reduction::Sum);
            if (c.labelSmoothing <= 0)
                return nll;
            auto uniform = -logp.mean(1);
            if (m_classWeights.defined())
                uniform = uniform * m_classWeights.index_select(0, target);
            return nll * (1 - c.labelSmoothing) + uniform.sum() * c.labelSmoothing;
        };
        loss = (lambda < 1.0 ? ce(y) * lambda + ce(y.roll(1, 0)) * (1.0 - lambda) : ce(y)) / double(m_shard);
    }
    loss.backward();
    return loss.item<double>();
}

void FinetuneRun::agree(bool& cancel, bool& stop, bool& outOfTime)
{
    if (!m_group)
        return;
    const auto v = m_group->allreduceSum({cancel ? 1.0 : 0.0, m_lead ? double(m_length.totalSteps()) : 0.0, m_lead && stop ? 1.0 : 0.0,
                                          m_lead && outOfTime ? 1.0 : 0.0});
    cancel = v[0] > 0;
    m_length.setSteps(static_cast<int64_t>(std::llround(v[1])));
    stop = v[2] > 0;
    outOfTime = v[3] > 0;
}

void FinetuneRun::calibrate()
{
    // One pass to warm up (memory, kernels), then two timed ones. Nothing is updated.
    for (int i = 0; i < 3; ++i) {
        const auto t = Clock::now();
        m_optimizer->zeroGrad();
        forwardBackward(m_startStep);
        m_length.stepTimed(secondsSince(t), i == 0);
    }
    m_optimizer->zeroGrad();
    replan(m_startStep, true);
    bool cancel = false, stop = false, outOfTime = false;
    agree(cancel, stop, outOfTime);
    if (m_length.totalSteps() <= m_startStep)
        throw UserError("the time budget of " + formatDuration(m_length.budgetSeconds()) +
                        " is used up: at the measured speed (" + std::to_string(m_length.secondsPerStep()) +
                        " s per step) no further step fits");
}

int FinetuneRun::validationsLeft(int64_t stepsDone) const
{
    const int64_t total = std::max<int64_t>(1, m_length.totalSteps());
    if (c.evalEvery > 0)
        return static_cast<int>((total - stepsDone) / c.evalEvery);
    const double done = std::floor(double(stepsDone) / double(total) * m_validations);
    return std::max(0, m_validations - 1 - static_cast<int>(done));
}

bool FinetuneRun::validationDue(int64_t stepsDone) const
{
    const int64_t total = m_length.totalSteps();
    if (m_valIdx.empty() || stepsDone >= total)
        return false;
    if (c.evalEvery > 0)
        return stepsDone % c.evalEvery == 0;
    const auto slot = [&](int64_t s) { return static_cast<int64_t>(std::floor(double(s) / double(total) * m_validations)); };
    return slot(stepsDone) > slot(stepsDone - 1);
}

void FinetuneRun::replan(int64_t stepsDone, bool record)
{
    if (!m_length.budgeted() || !m_lead) // rank 0 plans; agree() hands its plan to the others
        return;
    const int64_t evalImages = std::max<int64_t>(1, static_cast<int64_t>(m_valIdx.size()));
    // Validation gets at most a tenth of the budget: a tight budget validates less often.
    const double perEval = m_length.secondsPerEval(evalImages, c.batch);
    if (perEval > 0)
        m_validations = static_cast<int>(std::clamp(std::floor(kValidationShare * m_length.budgetSeconds() / perEval), 1.0,
                                                    double(std::max(1, c.validations))));
    // The final evaluation: the last checkpoint on val, the selected one on val and test.
    const double finalPasses = double(2 * m_valIdx.size() + m_testIdx.size()) / double(evalImages);
    const int saves = static_cast<int>((std::max<int64_t>(m_length.totalSteps(), stepsDone) - stepsDone) / c.checkpointEvery);
    const bool changed =
        m_length.replan(stepsDone, validationsLeft(stepsDone), saves + validationsLeft(stepsDone) / 2, finalPasses, evalImages, c.batch);
    c.steps = m_length.totalSteps();
    if (changed && record)
        m_store.writeConfig(m_id, c.toJson());
}

void FinetuneRun::save(int64_t stepsDone)
{
    if (!m_lead)
        return;
    const auto t = Clock::now();
    const int64_t epoch = stepsDone * c.batch / static_cast<int64_t>(m_pool.size());
    saveTrainingCheckpoint(m_store.checkpointPath(m_id), *m_net, *m_optimizer, stepsDone, epoch, m_observer, m_length.checkpointExtra());
    m_length.saveTimed(secondsSince(t));
}

void FinetuneRun::logEval(const EvalEvent& e)
{
    m_observer.evaluation(e);
    MetricsRecord r;
    r.type = MetricsRecord::Type::Eval;
    r.step = e.step;
    r.split = e.split;
    r.metrics = e.metrics;
    r.epoch = e.step * c.batch / std::max<int64_t>(1, static_cast<int64_t>(m_pool.size()));
    r.seconds = m_length.runSeconds();
    m_metrics->append(r);
}

void FinetuneRun::validate(int64_t stepsDone)
{
    const auto t = Clock::now();
    const auto probs = predictProbabilities(*m_net, *m_data, m_valIdx, m_sched.crop, c.bf16);
    const EvalEvent e{stepsDone, "val", computeMetrics(labelsOf(*m_data, m_valIdx), probs, c.model.backbone.numClasses)};
    logEval(e);
    m_length.evalTimed(secondsSince(t));
    const double score = selectionScore(e.metrics);
    if (score > m_bestScore) {
        const auto ts = Clock::now();
        m_bestScore = score;
        m_bestStep = stepsDone;
        TrainingState s;
        s.step = stepsDone;
        s.epoch = stepsDone * c.batch / static_cast<int64_t>(m_pool.size());
        s.extraJson = nlohmann::json({{"val_score", score}, {"metric", selectionMetricName(c.model.backbone.numClasses)}}).dump();
        saveCheckpoint(m_store.checkpointPath(m_id, true), *m_net, s);
        m_length.saveTimed(secondsSince(ts));
    }
    replan(stepsDone, true);
}

void FinetuneRun::trainStep(int64_t step)
{
    const auto t = Clock::now();
    const double factor = m_sched.lr.factor(m_length.advance(step), m_length.totalSteps());
    const double lr = m_baseLr * factor;
    m_optimizer->zeroGrad();
    m_lastLoss = forwardBackward(step);
    m_optimizer->step([&](const std::string&) { return lr; });
    checkLoss(m_lastLoss, step);
    const double seconds = secondsSince(t);
    m_length.stepTimed(seconds);
    StepEvent e = timedStep(m_length, step, c.batch, seconds);
    e.epoch = (step + 1) * c.batch / static_cast<int64_t>(m_pool.size());
    e.loss = m_lastLoss;
    e.lr = lr;
    m_observer.step(e);
    if (m_metrics)
        m_metrics->append(stepRecord(e));
}

JobOutcome FinetuneRun::run()
{
    prepare();
    if (m_length.budgeted())
        calibrate();
    // A run resumed from its final checkpoint (killed while evaluating) goes straight to the end.
    int64_t step = m_startStep;
    bool outOfTime = false;
    for (; step < m_length.totalSteps(); ++step) {
        const auto pauseStart = Clock::now();
        m_control.waitWhilePaused();
        m_length.paused(secondsSince(pauseStart));
        bool cancel = m_control.cancelled(), stop = false;
        if (step > m_startStep && m_length.budgeted()) {
            // Every step re-sizes the plan from the speed measured so far, so that a machine that
            // slows down still ends its schedule within the budget.
            replan(step, false);
            const double finalEval = m_length.secondsPerEval(std::max<size_t>(1, m_valIdx.size()), c.batch) *
                                     double(2 * m_valIdx.size() + m_testIdx.size()) / double(std::max<size_t>(1, m_valIdx.size()));
            if (step >= m_length.totalSteps() || m_length.outOfTime(finalEval)) {
                outOfTime = m_length.progress() < 1.0 - 1.0 / double(std::max<int64_t>(1, m_length.totalSteps())) - 1e-9;
                stop = true;
            }
        }
        agree(cancel, stop, outOfTime); // with other ranks: any rank's Ctrl-C stops them all
        if (cancel) {
            m_observer.stateChanged(JobState::Cancelling, "");
            save(step);
            auto out = cancelledAfter(step);
            out.configJson = c.toJson();
            return out;
        }
        if (stop)
            break;
        trainStep(step);
        if (m_lead && validationDue(step + 1))
            validate(step + 1);
        if ((step + 1) % c.checkpointEvery == 0 && step + 1 < m_length.totalSteps())
            save(step + 1);
    }
    if (m_group)
        m_group->barrier(); // every rank has trained its last step
    if (!m_lead)
        return JobOutcome{JobState::Completed, "", "{}", ""};
    return finish(step, outOfTime);
}

JobOutcome FinetuneRun::finish(int64_t stepsDone, bool outOfTime)
{
    save(stepsDone);
    if (m_length.budgeted())
        c.steps = stepsDone;
    const int classes = c.model.backbone.numClasses;
    const auto& names = m_data->classNames();
    nlohmann::ordered_json summary = {{"steps_done", stepsDone}, {"final_loss", m_lastLoss}, {"recipe", c.recipe},
                                      {"schedule", {{"shape", m_sched.lr.name()}, {"warmup", m_sched.lr.warmup},
                                                    {"decays", m_sched.lr.decays}, {"mixup_alpha", m_sched.mixupAlpha},
                                                    {"resize", m_sched.resize}, {"crop", m_sched.crop}}},
                                      {"train_images", m_pool.size()}, {"classes", names}};
    if (m_length.budgeted()) {
        summary["budget_seconds"] = m_length.budgetSeconds();
        summary["planned_steps"] = m_length.totalSteps();
        if (outOfTime)
            m_observer.warning("the time budget ran out " + std::to_string(m_length.totalSteps() - stepsDone) +
                               " steps before the plan's end (the machine got slower); the learning rate did not reach its "
                               "final value");
    }
    // The last checkpoint competes with the best one on val; a tie keeps the last.
    std::string selected = "last";
    int64_t selectedStep = stepsDone;
    std::optional<ClassificationMetrics> testLast;
    if (!m_valIdx.empty()) {
        const auto probs = predictProbabilities(*m_net, *m_data, m_valIdx, m_sched.crop, c.bf16);
        const auto lastVal = computeMetrics(labelsOf(*m_data, m_valIdx), probs, classes);
        if (m_bestStep >= 0 && m_bestStep != stepsDone && fs::exists(m_store.checkpointPath(m_id, true)) &&
            m_bestScore > selectionScore(lastVal)) {
            if (!m_testIdx.empty()) {
                const auto p = predictProbabilities(*m_net, *m_data, m_testIdx, m_sched.crop, c.bf16);
                testLast = computeMetrics(labelsOf(*m_data, m_testIdx), p, classes);
            }
            loadNetworkState(*m_net, readCheckpoint(m_store.checkpointPath(m_id, true)).file);
            selected = "best";
            selectedStep = m_bestStep;
        }
    }
    summary["selected"] = {{"checkpoint", selected}, {"step", selectedStep}, {"metric", selectionMetricName(classes)},
                           {"why", m_valIdx.empty() ? "no labeled validation images: the last checkpoint"
                                   : selected == "best" ? "the best validation score"
                                                        : "the last checkpoint scores as well as any earlier one on val"}};
    std::map<std::string, ClassificationMetrics> bySplit;
    for (const auto& e : evaluateAndStore(m_project, m_id, *m_net, *m_data, m_sched.crop, c.bf16, selectedStep)) {
        logEval(e);
        summary[e.split] = nlohmann::json::parse(e.metrics.toJson());
        bySplit.emplace(e.split, e.metrics);
    }
    const auto warnings = classifierWarnings(bySplit, names);
    if (testLast)
        summary["test_last"] = nlohmann::json::parse(testLast->toJson());
    summary["warnings"] = warnings;
    for (const auto& w : warnings)
        m_observer.warning(w);
    summary["seconds"] = m_length.runSeconds();
    summary["images_per_epoch"] = m_pool.size();
    m_store.writeSummary(m_id, summary.dump(1));
    JobOutcome out{JobState::Completed, "", summary.dump(), ""};
    out.configJson = c.toJson();
    return out;
}

} // namespace

FinetuneSchedule finetuneSchedule(const FinetuneConfig& c, int64_t examples, int rows, int columns, int cacheSide)
{
    FinetuneSchedule s;
    if (c.recipe == kRecipeAdamW) {
        s.totalSteps = c.steps > 0 ? c.steps
                       : c.budgetSeconds > 0
                           ? 0
                           : std::max<int64_t>(1, (kAdamWDefaultEpochs * examples + c.batch - 1) / std::max(1, c.batch));
        s.lr.shape = c.schedule == "steps" ? LrSchedule::Shape::Steps : LrSchedule::Shape::Cosine;
        s.lr.warmup = c.warmupFraction;
        if (s.lr.shape == LrSchedule::Shape::Steps)
            s.lr.decays = {0.5, 0.75};
        s.mixupAlpha = std::max(0.0, c.mixupAlpha);
        s.crop = c.crop > 0 ? c.crop : std::min(64, cacheSide);
        s.resize = c.resize > 0 ? c.resize : s.crop;
        s.augment = c.augment ? *c.augment : AugmentConfig::bitFinetune(s.resize, s.crop);
        return s;
    }
    const HyperRule rule = bitHyperRule(examples, rows, columns);
    s.totalSteps = c.steps > 0 ? c.steps : c.budgetSeconds > 0 ? 0 : rule.totalSteps;
    s.lr.shape = c.schedule == "cosine" ? LrSchedule::Shape::Cosine : LrSchedule::Shape::Steps;
    s.lr.warmup = s.lr.shape == LrSchedule::Shape::Cosine ? c.warmupFraction : double(rule.warmupSteps) / double(rule.totalSteps);
    if (s.lr.shape == LrSchedule::Shape::Steps)
        for (int64_t d : rule.decaySteps)
            s.lr.decays.push_back(double(d) / double(rule.totalSteps));
    s.mixupAlpha = c.mixupAlpha >= 0 ? c.mixupAlpha : rule.mixupAlpha;
    // Resolution: the rule's, but never finer than the cache holds (a scaled-down rule for small caches).
    s.crop = c.crop > 0 ? c.crop : std::min(rule.crop, cacheSide);
    s.resize = c.resize > 0 ? c.resize : static_cast<int>(std::lround(double(s.crop) * rule.resize / rule.crop));
    s.resize = std::max(s.resize, s.crop);
    s.augment = c.augment ? *c.augment : AugmentConfig::bitFinetune(s.resize, s.crop);
    return s;
}

double selectionScore(const ClassificationMetrics& m)
{
    const double v = m.numClasses == 2 ? m.macroAuc : m.balancedAccuracy;
    return std::isfinite(v) ? v : -1;
}

const char* selectionMetricName(int classes) { return classes == 2 ? "val_auc" : "val_balanced_accuracy"; }

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
    return runAsRank(m_group, m_project, m_id, "finetune", m_config.toJson(), observer,
                     [&]() -> JobOutcome { return FinetuneRun(m_project, m_id, m_config, observer, control, m_group, m_localRank).run(); });
}

FinetuneConfig retrainConfig(Project& project, const std::string& runId)
{
    RunStore store(project);
    const auto run = store.find(runId);
    if (!run || run->kind != "finetune")
        throw UserError("run '" + runId + "' is not a fine-tuned classifier; retraining starts from one");
    FinetuneConfig c = FinetuneJob(project, runId).config();
    c.initWeights = fs::absolute(store.selectedCheckpoint(runId)).string();
    if (c.budgetSeconds > 0)
        c.steps = 0; // the budget sizes the run again for today's label count
    return c;
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
    const std::string ckpt = RunStore(project).selectedCheckpoint(runId);
    TrainingState state;
    Network net = loadNetwork(ckpt, &state);
    ImageSet data(project);
    if (static_cast<int>(data.classNames().size()) != net->config().backbone.numClasses)
        throw UserError("the project now has " + std::to_string(data.classNames().size()) + " classes; run '" + runId +
                        "' was trained for " + std::to_string(net->config().backbone.numClasses));
    return evaluateAndStore(project, runId, *net, data, evaluationSize(project, runId), bf16, state.step);
}

} // namespace medsiam::core
