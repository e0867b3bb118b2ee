#pragma once
// SimSiam pretraining as a resumable job: runs/<id>/config.json, metrics.jsonl (one JSON object
// per step or monitor), checkpoints/last.safetensors (atomic) and summary.json, indexed in
// project.sqlite. After a crash or kill, run() on the same id continues from the last checkpoint.
#include "train/JobEvents.h"
#include "train/TrainConfig.h"

#include <string>

namespace medsiam::core {

class Project;
class ProcessGroup;

class PretrainJob {
public:
    /// Creates a new run (folder, config.json, a Queued row in the project) and returns its id:
    /// "simsiam-YYYYMMDD-HHMMSS" (with a suffix when taken). Validates the configuration first and,
    /// unless `checkWeights` is false (the caller checked them already), that its initial weights
    /// fit the network.
    static std::string create(Project& project, const PretrainConfig& config, bool checkWeights = true);

    /// Loads runs/<id>/config.json. Throws UserError when the run does not exist.
    PretrainJob(Project& project, std::string runId);
    const PretrainConfig& config() const { return m_config; }
    const std::string& id() const { return m_id; }
    /// The checkpoint step a run would continue from (0: none yet).
    int64_t resumeStep() const;

    /// Trains until the configured step count, or until cancelled (a checkpoint is written
    /// first). Continues from the last checkpoint when there is one. Never throws: failures end
    /// in JobState::Failed with the message given to the observer.
    JobState run(JobObserver& observer, JobControl& control);

    /// Trains data-parallel as one rank of `group` (train/Distributed), on GPU `localRank` with
    /// --cuda. The run's batch is the whole group's: each of N ranks takes batch / N of it (the
    /// same samples and views as alone, so a run resumes with any N that divides its batch),
    /// gradients are averaged over the ranks after every backward pass, and rank 0 alone writes
    /// the run's record, metrics, checkpoints and summary and runs the kNN monitor.
    void setGroup(ProcessGroup* group, int localRank = 0)
    {
        m_group = group;
        m_localRank = localRank;
    }

private:
    Project& m_project;
    std::string m_id;
    PretrainConfig m_config;
    ProcessGroup* m_group = nullptr;
    int m_localRank = 0;
};

} // namespace medsiam::core
