#include "train/Experiment.h"

#include "project/Project.h"
#include "project/RunStore.h"
#include "system/Runtime.h"
#include "train/FinetuneJob.h"
#include "train/LinearProbe.h"
#include "train/PretrainJob.h"
#include "train/TrainUtil.h"
#include "util/AtomicFile.h"
#include "util/Error.h"

#include <algorithm>
#include <ctime>
#include <filesystem>

namespace medsiam::core {

namespace fs = std::filesystem;

namespace {

/// Where the transfer arms start, as a request's init (an upstream run once it exists).
void setTransferStart(RunRequest& r, Project& project, const ExperimentConfig& c, const std::vector<ExperimentStage>& stages)
{
    if (!c.initFile.empty()) {
        r.initFile = c.initFile;
    } else if (!c.initRun.empty()) {
        r.initRun = c.initRun;
    } else if (!c.sourceProject.empty()) {
        r.initFile = sourceCheckpoint(c.sourceProject, c.sourceRun, nullptr);
    } else {
        for (const auto& s : stages)
            if (s.stage == kUpstream)
                r.initRun = s.run;
    }
}

/// The weights file the transfer arms start from (for the probe of the transfer init alone).
std::string transferWeights(Project& project, const ExperimentConfig& c, const std::vector<ExperimentStage>& stages)
{
    RunRequest r;
    setTransferStart(r, project, c, stages);
    if (r.initFile)
        return *r.initFile;
    return RunStore(project).selectedCheckpoint(r.initRun.value_or(""));
}

ExperimentStage stageOf(const std::string& arm, const std::string& stage)
{
    ExperimentStage s;
    s.arm = arm;
    s.stage = stage;
    return s;
}

/// The request every arm shares, and the network of the transfer source for the arms that start
/// from random weights (so that the arms differ in their start only).
RunRequest baseRequest(Project& project, const ExperimentConfig& c, const std::vector<ExperimentStage>& stages, bool randomStart)
{
    RunRequest r;
    if (!c.backbone.empty())
        r.backbone = c.backbone;
    r.seed = c.seed;
    r.bf16 = c.bf16;
    r.cuda = c.cuda;
    // A weights file of another kind (BiT, timm, torchvision) keeps the ImageNet stem in the
    // transfer arms (RunRequest's rule); the arms from random weights take the same.
    if (randomStart && !c.initFile.empty() && !checkpointModel(c.initFile))
        r.stem = toString(BackboneStem::ImageNet);
    if (randomStart && (!c.initFile.empty() || !c.initRun.empty() || !c.sourceProject.empty() || (c.upstream() && !completedRun(stages, kUpstream, kUpstream).empty()))) {
        if (const auto m = checkpointModel(transferWeights(project, c, stages))) {
            r.backbone = m->backbone.name;
            r.stem = toString(m->backbone.stem);
            r.norm = m->backbone.arch == BackboneArch::ResNetV2 ? std::optional<std::string>(toString(m->backbone.norm)) : std::nullopt;
            r.inChannels = m->backbone.inChannels;
        }
    }
    return r;
}

template <typename Config>
Config acceptedOrThrow(BuiltRun<Config> built, const std::string& what)
{
    if (!built.ok())
        throw UserError(what + ": " + built.message());
    return *built.config;
}

/// Forwards a stage's events to the experiment's observer.
class StageObserver : public JobObserver {
public:
    explicit StageObserver(ExperimentObserver& to) : m_to(to) {}
    void step(const StepEvent& e) override { m_to.step(e); }
    void monitor(const MonitorEvent& e) override { m_to.monitor(e); }
    void evaluation(const EvalEvent& e) override { m_to.evaluation(e); }
    void warning(const std::string& m) override { m_to.warning(m); }
    void checkpointSaved(const std::string& p, int64_t s) override { m_to.checkpointSaved(p, s); }
    void stateChanged(JobState state, const std::string& message) override
    {
        if (state == JobState::Failed)
            m_failure = message;
        m_to.stateChanged(state, message);
    }
    std::string m_failure;

private:
    ExperimentObserver& m_to;
};

} // namespace

// ---- the job

std::string ExperimentJob::create(Project& project, const ExperimentConfig& config, const RunContext& context)
{
    config.validate();
    // The checks the stages would make, made now with the request of each kind of run (nothing
    // of the transfer source is trained yet, so the transfer arms are checked against the source
    // that exists: a file, a run, another project).
    std::vector<ExperimentStage> none;
    {
        RunRequest r = baseRequest(project, config, none, true);
        r.budgetSeconds = config.armSeconds;
        if (config.batch > 0)
            r.batch = config.batch;
        if (config.upstream())
            r.subset = "b";
        (void)acceptedOrThrow(buildPretrain(project, r, context), "SimSiam from random init cannot run");
        RunRequest p = baseRequest(project, config, none, true);
        (void)acceptedOrThrow(buildProbe(project, p, context), "the probe cannot run");
        if (!config.upstream()) {
            RunRequest t = baseRequest(project, config, none, false);
            setTransferStart(t, project, config, none);
            t.budgetSeconds = config.armSeconds;
            if (config.batch > 0)
                t.batch = config.batch;
            const auto built = acceptedOrThrow(buildPretrain(project, t, context), "SimSiam from the transfer init cannot run");
            checkInitWeights(built.model, built.initWeights, false);
        } else {
            RunRequest u = baseRequest(project, config, none, false);
            u.subset = "a";
            u.budgetSeconds = config.upstreamBudget();
            (void)acceptedOrThrow(buildFinetune(project, u, context), "the upstream transfer source cannot be trained");
        }
    }

    // experiments/exp-YYYYMMDD-HHMMSS (a suffix when taken)
    char stamp[32];
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    std::strftime(stamp, sizeof stamp, "exp-%Y%m%d-%H%M%S", &tm);
    std::string id = stamp;
    std::error_code ec;
    for (int n = 2; fs::exists(experimentDir(project, id), ec); ++n)
        id = std::string(stamp) + "-" + std::to_string(n);
    fs::create_directories(experimentDir(project, id), ec);
    if (ec)
        throw UserError("cannot create " + experimentDir(project, id) + ": " + ec.message());

    std::vector<ExperimentStage> stages;
    if (config.upstream())
        stages.push_back(stageOf(kUpstream, kUpstream));
    for (const auto& arm : experimentArms())
        if (config.wants(arm) && isSimSiamArm(arm))
            stages.push_back(stageOf(arm, "simsiam"));
    for (const auto& arm : experimentArms())
        if (config.wants(arm))
            stages.push_back(stageOf(arm, "probe"));
    if (config.finetune)
        for (const auto& arm : experimentArms())
            if (config.wants(arm))
                stages.push_back(stageOf(arm, "finetune"));
    writeFileAtomically(experimentConfigPath(project, id), config.toJson());
    writeExperimentStages(project, id, stages);
    return id;
}

ExperimentJob::ExperimentJob(Project& project, std::string id) : m_project(project), m_id(std::move(id))
{
    std::error_code ec;
    if (!fs::exists(experimentConfigPath(project, m_id), ec))
        throw UserError("no experiment \"" + m_id + "\" in this project");
    m_config = ExperimentConfig::fromJson(readWholeFile(experimentConfigPath(project, m_id)));
    m_context = machineContext();
}

JobState ExperimentJob::run(ExperimentObserver& observer, JobControl& control)
{
    std::vector<ExperimentStage> stages;
    try {
        stages = readExperimentStages(m_project, m_id);
    } catch (const std::exception& e) {
        observer.stateChanged(JobState::Failed, e.what());
        return JobState::Failed;
    }
    const ExperimentConfig& c = m_config;
    const int total = static_cast<int>(stages.size());
    for (int i = 0; i < total; ++i) {
        ExperimentStage& st = stages[static_cast<size_t>(i)];
        if (st.state == "completed" || st.state == "failed" || st.state == "skipped")
            continue;
        if (control.cancelled())
            break;
        // What it depends on: the transfer arms on the upstream source, probes and fine-tunes of
        // SimSiam arms on their SimSiam run.
        std::string missing;
        if (usesTransfer(st.arm) && c.upstream() && completedRun(stages, kUpstream, kUpstream).empty())
            missing = "the upstream transfer source did not complete";
        if (isSimSiamArm(st.arm) && st.stage != "simsiam" && completedRun(stages, st.arm, "simsiam").empty())
            missing = "its SimSiam run did not complete";
        if (!missing.empty()) {
            st.state = "skipped";
            st.error = missing;
            writeExperimentStages(m_project, m_id, stages);
            observer.stageEnded(st);
            continue;
        }
        // A run that completed after the last state was written (the process was killed in between).
        if (!st.run.empty()) {
            const auto record = RunStore(m_project).find(st.run);
            if (record && record->state == "completed") {
                st.state = "completed";
                writeExperimentStages(m_project, m_id, stages);
                observer.stageEnded(st);
                continue;
            }
        }
        observer.stageStarted(st, i, total);
        StageObserver forward(observer);
        JobState state = JobState::Failed;
        try {
            const bool randomStart = st.arm == kArmScratch || st.arm == kArmRandom;
            RunRequest r = baseRequest(m_project, c, stages, randomStart);
            if (st.stage == kUpstream) {
                r.subset = "a";
                r.budgetSeconds = c.upstreamBudget();
                if (st.run.empty()) {
                    st.run = FinetuneJob::create(m_project, acceptedOrThrow(buildFinetune(m_project, r, m_context), "upstream"));
                    writeExperimentStages(m_project, m_id, stages);
                }
                st.state = "running";
                state = FinetuneJob(m_project, st.run).run(forward, control);
            } else if (st.stage == "simsiam") {
                if (usesTransfer(st.arm))
                    setTransferStart(r, m_project, c, stages);
                if (st.arm == kArmTransferBn)
                    r.norm = "bn_ws";
                if (st.arm == kArmTransferGn)
                    r.norm = "gn_ws";
                r.budgetSeconds = c.armSeconds;
                r.monitorAtStart = true;
                if (c.batch > 0)
                    r.batch = c.batch;
                if (c.upstream())
                    r.subset = "b";
                if (st.run.empty()) {
                    st.run = PretrainJob::create(m_project, acceptedOrThrow(buildPretrain(m_project, r, m_context), armTitle(st.arm)));
                    writeExperimentStages(m_project, m_id, stages);
                }
                st.state = "running";
                state = PretrainJob(m_project, st.run).run(forward, control);
            } else if (st.stage == "probe") {
                if (isSimSiamArm(st.arm))
                    r.probeRun = completedRun(stages, st.arm, "simsiam");
                else if (st.arm == kArmTransferOnly)
                    r.initFile = transferWeights(m_project, c, stages);
                r.labelFractions = c.labelFractions;
                r.labelDraws = c.labelDraws;
                const auto config = acceptedOrThrow(buildProbe(m_project, r, m_context), armTitle(st.arm));
                st.state = "running";
                st.run = runLinearProbe(m_project, config, forward).runId;
                state = JobState::Completed;
            } else if (st.stage == "finetune") {
                if (isSimSiamArm(st.arm))
                    r.initRun = completedRun(stages, st.arm, "simsiam");
                else if (st.arm == kArmTransferOnly)
                    setTransferStart(r, m_project, c, stages);
                r.budgetSeconds = c.finetuneBudget();
                if (st.run.empty()) {
                    st.run = FinetuneJob::create(m_project, acceptedOrThrow(buildFinetune(m_project, r, m_context), armTitle(st.arm)));
                    writeExperimentStages(m_project, m_id, stages);
                }
                st.state = "running";
                state = FinetuneJob(m_project, st.run).run(forward, control);
            }
        } catch (const std::exception& e) {
            forward.m_failure = e.what();
            state = JobState::Failed;
        }
        if (state == JobState::Cancelled) {
            st.state = "pending"; // its run continues from its checkpoint next time
            writeExperimentStages(m_project, m_id, stages);
            observer.stageEnded(st);
            break;
        }
        st.state = state == JobState::Completed ? "completed" : "failed";
        st.error = state == JobState::Completed ? "" : (forward.m_failure.empty() ? std::string("it failed") : forward.m_failure);
        writeExperimentStages(m_project, m_id, stages);
        observer.stageEnded(st);
    }
    try {
        const auto result = summarizeExperiment(m_project, m_id);
        if (!result.complete) {
            observer.stateChanged(JobState::Cancelled, "");
            return JobState::Cancelled;
        }
    } catch (const std::exception& e) {
        observer.stateChanged(JobState::Failed, e.what());
        return JobState::Failed;
    }
    observer.stateChanged(JobState::Completed, "");
    return JobState::Completed;
}

ExperimentResult ExperimentJob::result() const { return summarizeExperiment(m_project, m_id); }


} // namespace medsiam::core
