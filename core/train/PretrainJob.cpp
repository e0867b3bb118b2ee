#include "train/PretrainJob.h"

#include "train/DeviceAugment.h"

#include "models/Checkpoint.h"
#include "models/WeightImport.h"
#include "project/Project.h"
#include "project/RunStore.h"
#include "system/Runtime.h"
#include "system/TorchCompat.h"
#include "train/Budget.h"
#include "train/Distributed.h"
#include "train/Features.h"
#include "train/TrainUtil.h"
#include "util/AtomicFile.h"
#include "util/Error.h"
#include "util/Prefetcher.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <optional>
#include <random>
#include <sstream>

namespace medsiam::core {

namespace fs = std::filesystem;

namespace {

/// The collapse warning fires when the projections' std falls below this fraction of 1/sqrt(d).
constexpr double kCollapseRatio = 0.7;

using Clock = std::chrono::steady_clock;
double secondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

/// SimSiam's schedule: cosine over the run after an optional linear warmup of `warmupSteps`.
LrSchedule pretrainSchedule(const PretrainConfig& c, int64_t totalSteps)
{
    LrSchedule s;
    s.shape = LrSchedule::Shape::Cosine;
    s.warmup = totalSteps > 0 ? std::min(0.5, double(c.warmupSteps) / double(totalSteps)) : 0;
    return s;
}

} // namespace

std::string PretrainJob::create(Project& project, const PretrainConfig& config, bool checkWeights)
{
    PretrainConfig::fromJson(config.toJson()); // validates
    config.model.backbone.validate();
    config.model.heads.validate();
    if (!config.model.simsiamHeads)
        throw UserError("SimSiam pretraining needs a model with SimSiam heads");
    if (checkWeights && !config.initWeights.empty())
        checkInitWeights(config.model, config.initWeights, false);
    return RunStore(project).create("simsiam", "simsiam-pretrain", config.toJson());
}

PretrainJob::PretrainJob(Project& project, std::string runId) : m_project(project), m_id(std::move(runId))
{
    m_config = PretrainConfig::fromJson(RunStore(project).readConfig(m_id));
}

int64_t PretrainJob::resumeStep() const { return checkpointStep(m_project, m_id); }

JobState PretrainJob::run(JobObserver& observer, JobControl& control)
{
    PretrainConfig& c = m_config;
    ProcessGroup* const group = m_group;
    const int world = group ? group->size() : 1;
    const int rank = group ? group->rank() : 0;
    const bool lead = rank == 0; // writes the run, runs the monitor
    const auto body = [&]() -> JobOutcome {
        checkBatchShards(c.batch, world);
        const int shard = c.batch / world;
        RunLength length(c.budgetSeconds, c.steps);
        ImageSet data(m_project);
        const auto pool = data.pretrainIndices(c.subset);
        if (static_cast<int64_t>(pool.size()) < c.batch)
            throw UserError("SimSiam needs at least one full batch: " + std::to_string(pool.size()) +
                            " images outside val/test, batch " + std::to_string(c.batch));
        if (c.model.backbone.inChannels == 1 && m_project.naturalChannels() == 3)
            throw UserError("the project holds colour images but the model takes 1 channel; use --in-channels 3");
        const auto device = c.cuda ? at::Device(at::kCUDA, static_cast<at::DeviceIndex>(m_localRank)) : at::Device(at::kCPU);
        const auto norm = c.normalization();

        RunStore store(m_project);
        const std::string ckptPath = store.checkpointPath(m_id);
        TrainingState state;
        Network net = startNetwork(c.model, c.seed, ckptPath, c.initWeights, false, device, observer, state);
        Sgd sgd(*net, c.momentum, c.weightDecay);
        sgd.load(state.optimizer);
        const int64_t startStep = state.step;
        length.resume(state.extraJson);
        std::optional<MetricsLog> metrics;
        if (lead)
            metrics.emplace(store.openMetrics(m_id, startStep));
        if (group)
            startTogether(*group, *net, c.batch, c.batch, observer); // one pass per view over the whole batch

        const int64_t perEpoch = static_cast<int64_t>(pool.size()) / c.batch;
        const int channels = c.model.backbone.inChannels;
        const double healthy = c.healthyOutputStd();
        std::vector<int64_t> order;
        int64_t orderEpoch = -1;
        auto save = [&](int64_t stepsDone) {
            if (!lead)
                return;
            const auto t = Clock::now();
            saveTrainingCheckpoint(ckptPath, *net, sgd, stepsDone, stepsDone / perEpoch, observer, length.checkpointExtra());
            length.saveTimed(secondsSince(t));
        };
        // kNN monitor on the labeled train (bank) and val (queries) images.
        const auto bankIdx = data.indices("train", true), queryIdx = data.indices("val", true);
        const int numClasses = static_cast<int>(data.classNames().size());
        MonitorEvent lastMonitor;
        bool monitored = false;
        const bool monitoring = !bankIdx.empty() && !queryIdx.empty() && numClasses >= 2;
        auto monitor = [&](int64_t stepsDone) {
            if (!monitoring)
                return;
            const auto t = Clock::now();
            const double at = length.runSeconds(); // the weights measured are those of this moment
            // Every rank extracts its share of the features; rank 0 scores them and records.
            const auto bank = extractFeaturesTogether(group, *net, data.cache(), bankIdx, c.inputSize, norm, c.bf16);
            const auto queries = extractFeaturesTogether(group, *net, data.cache(), queryIdx, c.inputSize, norm, c.bf16);
            lastMonitor.step = stepsDone;
            monitored = true;
            if (!lead)
                return;
            std::vector<int> bankLabels, truth;
            for (auto i : bankIdx)
                bankLabels.push_back(data.classOf(i));
            for (auto i : queryIdx)
                truth.push_back(data.classOf(i));
            const auto m = computeMetrics(truth, knnScores(bank, bankLabels, queries, numClasses), numClasses);
            MonitorEvent e{stepsDone, stepsDone / perEpoch, m.accuracy, m.balancedAccuracy, int64_t(bankIdx.size()), int64_t(queryIdx.size())};
            observer.monitor(e);
            MetricsRecord r;
            r.type = MetricsRecord::Type::Monitor;
            r.step = stepsDone;
            r.epoch = e.epoch;
            r.knnAccuracy = e.knnAccuracy;
            r.knnBalancedAccuracy = e.knnBalancedAccuracy;
            r.bank = e.bank;
            r.queries = e.queries;
            r.seconds = at;
            metrics->append(r);
            lastMonitor = e;
            monitored = true;
            length.evalTimed(secondsSince(t));
        };
        // A budgeted run: sized from the measured speed, re-sized at every monitor and checkpoint.
        // (Rank 0 plans; the others take its plan at the next step, see agree() below.)
        const auto replan = [&](int64_t stepsDone, bool record = true) {
            if (!length.budgeted() || !lead)
                return;
            const int64_t total = std::max(length.totalSteps(), stepsDone);
            const int monitorsLeft = !monitoring ? 0
                                     : c.monitorEvery > 0 ? static_cast<int>((total - stepsDone) / c.monitorEvery)
                                                          : static_cast<int>((total - stepsDone) / perEpoch);
            const int64_t evalImages = static_cast<int64_t>(bankIdx.size() + queryIdx.size());
            const bool changed = length.replan(stepsDone, monitorsLeft, static_cast<int>((total - stepsDone) / c.checkpointEvery),
                                               monitoring ? 1 : 0, std::max<int64_t>(1, evalImages), 2 * c.batch);
            c.steps = length.totalSteps();
            if (changed && record)
                store.writeConfig(m_id, c.toJson());
        };

        // The host's share of step `step`'s two views: this rank's share of the step's batch, seeded
        // by its place in the whole batch. Made ahead of its step by `prefetch`, on its thread.
        struct Views {
            HostBatch v1, v2;
        };
        const auto prepareViews = [&](int64_t step) {
            const int64_t epoch = step / perEpoch;
            if (epoch != orderEpoch) {
                order = pool;
                std::mt19937_64 shuffle(c.seed * 1000003ull + uint64_t(epoch));
                std::shuffle(order.begin(), order.end(), shuffle);
                orderEpoch = epoch;
            }
            const auto first = order.begin() + static_cast<std::ptrdiff_t>((step % perEpoch) * c.batch + rank * shard);
            const std::vector<int64_t> batch(first, first + shard);
            const int64_t offset = int64_t(rank) * shard;
            return Views{prepareTrainingBatch(data.cache(), batch, c.inputSize, channels, c.augment, norm, c.seed, step, 0, device, offset),
                         prepareTrainingBatch(data.cache(), batch, c.inputSize, channels, c.augment, norm, c.seed, step, 1, device, offset)};
        };
        Prefetcher<Views> prefetch(prepareViews, prefetchBatches(device.is_cuda()));

        // SimSiam's symmetric loss on two views, with its gradients; z1 for the collapse monitor.
        const auto lossBackward = [&](const at::Tensor& x1, const at::Tensor& x2, at::Tensor& z1) {
            at::Tensor loss;
            {
                compat::Autocast autocast(c.cuda, c.bf16);
                auto out = net->simsiam(x1, x2);
                auto target1 = c.stopGradient ? out.z1.detach() : out.z1;
                auto target2 = c.stopGradient ? out.z2.detach() : out.z2;
                loss = -(at::cosine_similarity(out.p1.to(at::kFloat), target2.to(at::kFloat), 1).mean() +
                         at::cosine_similarity(out.p2.to(at::kFloat), target1.to(at::kFloat), 1).mean()) *
                       0.5;
                z1 = out.z1.detach().to(at::kFloat);
            }
            sgd.zeroGrad();
            loss.backward();
            return loss.item<double>();
        };
        // A step that ran out of memory: on a GPU, the batch that fits, from passes over fewer images.
        const auto outOfMemory = [&]() {
            endOutOfMemory(
                *net, sgd, group, device, "view", shard,
                [&](int n) {
                    const std::vector<int64_t> some(pool.begin(), pool.begin() + n);
                    at::Tensor z1;
                    lossBackward(makeTrainingBatch(data.cache(), some, c.inputSize, channels, c.augment, norm, c.seed, 0, 0, device),
                                 makeTrainingBatch(data.cache(), some, c.inputSize, channels, c.augment, norm, c.seed, 0, 1, device), z1);
                },
                [&](int n) {
                    // SimSiam's batch is what BatchNorm and the loss see at once: there are no micro-batches to shrink.
                    return "run with --batch " + std::to_string(n * world) + (world > 1 ? " (" + std::to_string(n) + " per process)" : "");
                });
        };
        // The two views of step `step`'s batch, forward and backward; the loss over the group.
        auto forwardBackward = [&](int64_t step, at::Tensor& z1) {
            double loss = 0;
            try {
                Views views = prefetch.take(step);
                prefetch.ahead(step + 1); // made while this step runs
                const auto x1 = finishTrainingBatch(std::move(views.v1), c.inputSize, channels, norm, device);
                const auto x2 = finishTrainingBatch(std::move(views.v2), c.inputSize, channels, norm, device);
                loss = lossBackward(x1, x2, z1);
            } catch (const std::exception& e) {
                if (!isOutOfMemory(e))
                    throw;
                outOfMemory();
            }
            return group ? averageOverRanks(*group, *net, loss) : loss;
        };
        // The ranks agree on whether to stop and how long the run is: rank 0 decides.
        const auto agree = [&](bool& cancel, bool& outOfTime) {
            if (!group)
                return;
            const auto v = group->allreduceSum({cancel ? 1.0 : 0.0, lead ? double(length.totalSteps()) : 0.0, lead && outOfTime ? 1.0 : 0.0});
            cancel = v[0] > 0;
            length.setSteps(static_cast<int64_t>(std::llround(v[1])));
            outOfTime = v[2] > 0;
        };
        if (c.monitorAtStart && startStep == 0)
            monitor(0); // where the initial weights start (timed, so the plan accounts for monitors)
        if (length.budgeted()) {
            // One pass to warm up, then two timed ones; nothing is updated.
            for (int i = 0; i < 3; ++i) {
                const auto t = Clock::now();
                at::Tensor unused;
                forwardBackward(startStep, unused);
                length.stepTimed(secondsSince(t), i == 0);
            }
            sgd.zeroGrad();
            replan(startStep);
            bool cancel = false, outOfTime = false;
            agree(cancel, outOfTime);
            if (length.totalSteps() <= startStep)
                throw UserError("the time budget of " + formatDuration(length.budgetSeconds()) + " is used up: no further step fits");
        }

        bool warned = false;
        double lastLoss = 0, lastStd = 0;
        const double lr0 = c.baseLr * c.batch / 256.0;
        int64_t step = startStep;
        for (; step < length.totalSteps(); ++step) {
            const auto pauseStart = Clock::now();
            control.waitWhilePaused();
            length.paused(secondsSince(pauseStart));
            bool cancel = control.cancelled(), outOfTime = false;
            if (step > startStep && length.budgeted()) {
                // Re-sized every step from the speed so far: a machine that slows down still ends its
                // schedule within the budget.
                replan(step, false);
                outOfTime = length.outOfTime(0);
            }
            agree(cancel, outOfTime); // with other ranks: any rank's Ctrl-C stops them all
            if (cancel) {
                observer.stateChanged(JobState::Cancelling, "");
                save(step);
                auto out = cancelledAfter(step);
                out.configJson = c.toJson();
                return out;
            }
            if (step > startStep && length.budgeted()) {
                if (step >= length.totalSteps())
                    break;
                if (outOfTime) {
                    observer.warning("the time budget ran out " + std::to_string(length.totalSteps() - step) +
                                     " steps before the plan's end (the machine got slower)");
                    break;
                }
            }
            const auto t = Clock::now();
            const int64_t epoch = step / perEpoch;
            const double lr = lr0 * pretrainSchedule(c, length.totalSteps()).factor(length.advance(step), length.totalSteps());
            at::Tensor z1;
            const double loss = forwardBackward(step, z1);
            sgd.step([&](const std::string& name) { return c.fixedPredictorLr && name.rfind("predictor.", 0) == 0 ? lr0 : lr; });
            lastLoss = loss;
            checkLoss(lastLoss, step);
            const auto zn = z1 / z1.norm(2, {1}, true).clamp_min(1e-12);
            lastStd = zn.std(0, false).mean().item<double>();
            const double seconds = secondsSince(t);
            length.stepTimed(seconds);
            StepEvent e = timedStep(length, step, c.batch, seconds);
            e.epoch = epoch;
            e.loss = lastLoss;
            e.lr = lr;
            e.collapseStd = lastStd;
            e.collapseHealthy = healthy;
            observer.step(e);
            if (metrics)
                metrics->append(stepRecord(e));
            // Collapse: the outputs crowd into few directions; a healthy run stays near 1/sqrt(d). The
            // projector's last BatchNorm keeps every channel spread over the batch, so a collapsed run
            // shows about half the healthy value rather than zero (see docs/TRAINING.md).
            if (lastStd < kCollapseRatio * healthy && step + 1 - startStep >= 5 && !warned) {
                observer.warning("collapse: the projections' std is " + std::to_string(lastStd) + ", far below the healthy " +
                                 std::to_string(healthy) + " (step " + std::to_string(step + 1) + ")");
                warned = true;
            }
            const bool epochEnd = (step + 1) % perEpoch == 0;
            if (c.monitorEvery > 0 ? (step + 1) % c.monitorEvery == 0 : epochEnd) {
                monitor(step + 1);
                replan(step + 1);
            }
            if ((step + 1) % c.checkpointEvery == 0 && step + 1 < length.totalSteps()) {
                save(step + 1);
                replan(step + 1);
            }
        }
        if (!monitored || lastMonitor.step != step)
            monitor(step);
        save(step);
        if (group)
            group->barrier(); // the others end once rank 0 has written the last checkpoint
        if (length.budgeted())
            c.steps = step;
        if (!lead)
            return JobOutcome{JobState::Completed, "", "{}", ""};
        nlohmann::ordered_json summary = {{"steps_done", step}, {"final_loss", lastLoss}, {"final_collapse_std", lastStd},
                                          {"healthy_std", healthy}, {"collapse_warning", warned}};
        if (length.budgeted()) {
            summary["budget_seconds"] = length.budgetSeconds();
            summary["planned_steps"] = length.totalSteps();
        }
        summary["seconds"] = length.runSeconds();
        summary["images_per_epoch"] = pool.size();
        if (monitored)
            summary["knn"] = {{"accuracy", lastMonitor.knnAccuracy}, {"balanced_accuracy", lastMonitor.knnBalancedAccuracy}};
        store.writeSummary(m_id, summary.dump(1));
        JobOutcome out{JobState::Completed, "", summary.dump(), ""};
        out.configJson = c.toJson();
        return out;
    };
    return runAsRank(group, m_project, m_id, "simsiam-pretrain", c.toJson(), observer, body);
}

} // namespace medsiam::core
