#pragma once
// The transfer experiment: the question of Lu, Jha and Huo (2021) asked of the user's own data.
// Does starting SimSiam from a transfer model speed up its convergence, does transfer + SimSiam
// beat each alone, and which normalization lets them combine? One job runs every arm with the
// same data, seed and time budget, then probes, label-efficiency probes and fine-tunes each, and
// writes the table and a finding that states only what was measured.
//
//   experiments/<id>/experiment.json   what was asked (ExperimentConfig), written once
//   experiments/<id>/state.json        every stage with its run id and state, rewritten as it goes
//   experiments/<id>/table.csv         one row per arm: its runs and numbers (from the runs' own files)
//   experiments/<id>/curves.csv        the SimSiam arms' kNN monitor (step, epoch, images, seconds)
//   experiments/<id>/label_efficiency.csv   probe scores per arm, label fraction and draw
//   experiments/<id>/finding.txt       the finding in sentences, with its numbers
//   experiments/<id>/figure.png|svg, label_efficiency.png|svg   (drawn by the report module)
//
// The arms' runs are ordinary runs of the project (runs/<id>/), so they can also be compared,
// reported and used on their own. An interrupted experiment resumes with the stages left; a
// failed stage is recorded with its reason and the arms that do not depend on it still finish.
#include "train/JobEvents.h"
#include "eval/RunComparison.h"
#include "train/RunRequest.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace medsiam::core {

class Project;

/// The arms, in the paper's terms.
constexpr const char* kArmScratch = "simsiam_scratch";         ///< SimSiam from random init
constexpr const char* kArmTransferGn = "simsiam_transfer_gn";  ///< SimSiam from the transfer init, GroupNorm + WS kept (BiT's way)
constexpr const char* kArmTransferBn = "simsiam_transfer_bn";  ///< ... converted to BatchNorm + WS (the authors' way)
constexpr const char* kArmTransferOnly = "transfer_only";      ///< the transfer init alone, no SimSiam
constexpr const char* kArmRandom = "random";                   ///< random features: the floor
constexpr const char* kUpstream = "upstream";                  ///< the stage that trains the transfer source
std::vector<std::string> experimentArms();
/// "SimSiam from random init", ...
std::string armTitle(const std::string& arm);

struct ExperimentConfig {
    double armSeconds = 600;      ///< each SimSiam arm's time budget
    double finetuneSeconds = 0;   ///< each fine-tune's; 0: armSeconds / 5, at least 30 s
    double upstreamSeconds = 0;   ///< the upstream transfer source's (when one is trained); 0: armSeconds / 4
    bool finetune = true;         ///< fine-tune every arm (else probes only)
    // The transfer source: one of these, or none (an upstream classifier is trained on half a
    // of the labeled train images and SimSiam runs on half b).
    std::string initFile;         ///< a weights file (BiT .npz, timm/torchvision, medsiam checkpoint)
    std::string initRun;          ///< a run of this project
    std::string sourceProject;    ///< another project (its folder) ...
    std::string sourceRun;        ///< ... and its run; empty: its latest completed classifier, else its latest SimSiam run
    // What every arm shares
    std::string backbone;         ///< "": the default (or the transfer source's network)
    uint64_t seed = 0;
    int batch = 0;                ///< SimSiam's batch; 0: the default
    std::optional<bool> bf16;     ///< unset: the run builders' default (on for CPUs with AVX512-BF16)
    bool cuda = false;
    std::vector<double> labelFractions{0.01, 0.1, 1.0};
    int labelDraws = 5;
    std::vector<std::string> arms; ///< empty: all

    std::string toJson() const;
    static ExperimentConfig fromJson(const std::string& json);
    double finetuneBudget() const;
    double upstreamBudget() const;
    bool upstream() const { return initFile.empty() && initRun.empty() && sourceProject.empty(); }
    bool wants(const std::string& arm) const;
    /// Seconds the whole experiment is planned to take (the budgets; probes are extra, seconds each).
    double plannedSeconds() const;
    /// Throws UserError for settings that cannot make an experiment (in words).
    void validate() const;
};

/// One unit of work: an arm's SimSiam run, probe or fine-tune, or the upstream source.
struct ExperimentStage {
    std::string arm;    ///< an arm, or "upstream"
    std::string stage;  ///< "upstream", "simsiam", "probe" or "finetune"
    std::string run;    ///< its run id, once created
    std::string state = "pending"; ///< pending, running, completed, failed, cancelled, skipped
    std::string error;
};

/// What the figures draw, per arm, read from the arms' runs.
struct ExperimentArmCurves {
    std::string arm, title;
    bool pretrained = false;              ///< a SimSiam arm (else its kNN is one level: the probe's)
    std::vector<CurvePoint> knn;          ///< kNN balanced accuracy (val) over the SimSiam run
    double knnLevel = -1;                 ///< the arms without SimSiam: their features' kNN
    struct LabelPoint {
        double fraction = 0;
        int64_t labels = 0;
        double aucMean = 0, aucSd = 0, balancedAccuracyMean = 0, balancedAccuracySd = 0;
    };
    std::vector<LabelPoint> labelEfficiency;
};

/// What the experiment found, for the table, the figures and the desktop app.
struct ExperimentResult {
    std::string id;
    std::string sourceText;            ///< where the transfer init came from, in words
    std::vector<ExperimentStage> stages;
    std::vector<std::string> finding;  ///< sentences
    std::vector<std::string> files;    ///< written, relative to the experiment's folder
    std::vector<ExperimentArmCurves> arms; ///< what the figures draw
    bool complete = false;             ///< every stage ended (completed, failed or skipped)
};

/// Progress of the experiment as a whole, besides the current stage's own events.
class ExperimentObserver : public JobObserver {
public:
    virtual void stageStarted(const ExperimentStage& stage, int index, int total) {}
    virtual void stageEnded(const ExperimentStage& stage) {}
};

class ExperimentJob {
public:
    /// Checks the settings (the transfer source exists and fits; the project has labeled train,
    /// val images of two classes) and creates experiments/<id>/ ("exp-YYYYMMDD-HHMMSS").
    static std::string create(Project& project, const ExperimentConfig& config, const RunContext& context);
    ExperimentJob(Project& project, std::string id);
    const ExperimentConfig& config() const { return m_config; }
    const std::string& id() const { return m_id; }
    /// Runs the stages left (an interrupted stage continues from its run's checkpoint). Returns
    /// Completed when every stage has ended (some may have failed: see the result), Cancelled when
    /// stopped. Never throws.
    JobState run(ExperimentObserver& observer, JobControl& control);
    /// The result as stored (after run(), or of an earlier process).
    ExperimentResult result() const;

private:
    Project& m_project;
    std::string m_id;
    ExperimentConfig m_config;
    RunContext m_context;
};

// ---- The experiment's files (no LibTorch: the report module and the desktop app read them too)

/// The folder of an experiment, and the experiments of a project (newest first).
std::string experimentDir(Project& project, const std::string& id);
std::string experimentConfigPath(Project& project, const std::string& id);
std::vector<std::string> listExperiments(Project& project);
std::vector<ExperimentStage> readExperimentStages(Project& project, const std::string& id);
void writeExperimentStages(Project& project, const std::string& id, const std::vector<ExperimentStage>& stages);
/// The run of a completed stage, or "".
std::string completedRun(const std::vector<ExperimentStage>& stages, const std::string& arm, const std::string& stage);
bool isSimSiamArm(const std::string& arm);
bool usesTransfer(const std::string& arm);
/// The checkpoint of another project's run to start from: the named run's selected checkpoint,
/// or the latest completed classifier's, else the latest completed SimSiam run's (`usedRun` says
/// which). Throws UserError when there is none.
std::string sourceCheckpoint(const std::string& projectDir, const std::string& run, std::string* usedRun);

/// Rewrites table.csv, curves.csv, label_efficiency.csv and finding.txt from the runs' files and
/// returns the result (also used after a resume, and by tests).
ExperimentResult summarizeExperiment(Project& project, const std::string& id);

/// The arms' curves alone (what summarizeExperiment gives in `arms`), without writing anything.
std::vector<ExperimentArmCurves> experimentCurves(Project& project, const std::string& id);

} // namespace medsiam::core
