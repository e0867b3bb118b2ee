// The guided classifier chain: SimSiam (for "best") and the fine-tune, as ordinary runs.
#include "train/ClassifierChain.h"

#include "project/Project.h"
#include "project/RunStore.h"
#include "train/FinetuneJob.h"
#include "train/PretrainJob.h"
#include "util/Error.h"

#include <algorithm>

namespace medsiam::core {

namespace {

/// Forwards a run's events and turns its steps into the chain's progress: the run covers
/// [from, from + share) of the whole.
class ChainStageObserver : public JobObserver {
public:
    ChainStageObserver(ClassifierChainObserver& to, double from, double share, std::string what)
        : m_to(to), m_from(from), m_share(share), m_what(std::move(what))
    {
    }
    void step(const StepEvent& e) override
    {
        m_to.step(e);
        // A budgeted run re-plans its steps once it has measured its speed: the share done
        // never goes back, so the one bar only moves forward.
        const double within = e.totalSteps > 0 ? std::clamp(double(e.step) / double(e.totalSteps), 0.0, 1.0) : 0.0;
        m_done = std::max(m_done, within);
        m_to.progress(m_from + m_share * m_done, m_what + ": step " + std::to_string(e.step) + " of " + std::to_string(e.totalSteps));
    }
    void monitor(const MonitorEvent& e) override { m_to.monitor(e); }
    void evaluation(const EvalEvent& e) override { m_to.evaluation(e); }
    void warning(const std::string& m) override { m_to.warning(m); }
    void checkpointSaved(const std::string& p, int64_t s) override { m_to.checkpointSaved(p, s); }
    void stateChanged(JobState state, const std::string& message) override
    {
        if (state == JobState::Failed || state == JobState::Cancelled)
            m_message = message;
        m_to.stateChanged(state, message);
    }
    std::string m_message;

private:
    ClassifierChainObserver& m_to;
    double m_from, m_share;
    double m_done = 0;
    std::string m_what;
};

template <typename Config>
Config acceptedOrThrow(const BuiltRun<Config>& built)
{
    if (!built.ok())
        throw UserError(built.message());
    return *built.config;
}

RunRequest baseRequest(const ClassifierPlan& plan)
{
    RunRequest r;
    r.bf16 = plan.bf16;
    r.cuda = plan.cuda;
    r.seed = plan.seed;
    return r;
}

} // namespace

ClassifierChainResult runClassifierChain(Project& project, const ClassifierPlan& plan, const RunContext& context,
                                         ClassifierChainObserver& observer, JobControl& control)
{
    ClassifierChainResult result;
    try {
        plan.validate();
        const ClassifierReadiness ready = assessClassifierReadiness(project);
        if (!ready.ready()) {
            std::string why;
            for (const auto& m : ready.missing)
                why += (why.empty() ? "" : " ") + m;
            throw UserError(why);
        }
        const double pretrainShare = plan.pretrainSeconds() / plan.budgetSeconds;
        std::optional<std::string> start;
        if (plan.mode == ClassifierMode::Best) {
            RunRequest r = baseRequest(plan);
            r.budgetSeconds = plan.pretrainSeconds();
            result.pretrainRun = PretrainJob::create(project, acceptedOrThrow(buildPretrain(project, r, context)), false);
            observer.stageStarted("simsiam", result.pretrainRun);
            observer.progress(0, "learning from all the images (SimSiam): loading them");
            ChainStageObserver forward(observer, 0, pretrainShare, "learning from all the images (SimSiam)");
            const JobState state = PretrainJob(project, result.pretrainRun).run(forward, control);
            if (state != JobState::Completed) {
                result.state = state;
                result.message = forward.m_message;
                return result;
            }
            start = result.pretrainRun;
        } else {
            start = suggestedFinetuneStart(project); // a SimSiam run of these images, when there is one
        }
        if (control.cancelled()) {
            result.state = JobState::Cancelled;
            return result;
        }
        RunRequest r = baseRequest(plan);
        r.budgetSeconds = plan.finetuneSeconds();
        if (start)
            r.initRun = *start;
        result.finetuneRun = FinetuneJob::create(project, acceptedOrThrow(buildFinetune(project, r, context)), false);
        observer.stageStarted("finetune", result.finetuneRun);
        observer.progress(pretrainShare, "training the classifier on the labeled images: loading them");
        ChainStageObserver forward(observer, pretrainShare, 1 - pretrainShare, "training the classifier on the labeled images");
        result.state = FinetuneJob(project, result.finetuneRun).run(forward, control);
        result.message = forward.m_message;
        if (result.state == JobState::Completed)
            observer.progress(1, "done");
    } catch (const std::exception& e) {
        result.state = JobState::Failed;
        result.message = e.what();
    }
    return result;
}

} // namespace medsiam::core
