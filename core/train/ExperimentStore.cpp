#include "train/Experiment.h"

#include "eval/RunComparison.h"
#include "project/Project.h"
#include "project/RunStore.h"
#include "train/Budget.h"
#include "util/AtomicFile.h"
#include "util/Csv.h"
#include "util/Error.h"
#include "util/Text.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>

namespace medsiam::core {

namespace fs = std::filesystem;

namespace {

/// Differences below this are within what another seed may change (one seed, one run per arm).
constexpr double kSeedNoise = 0.01;

std::string fmt(double v, int digits = 3)
{
    if (!std::isfinite(v))
        return "n/a";
    std::ostringstream o;
    o.setf(std::ios::fixed);
    o.precision(digits);
    o << v;
    return o.str();
}



struct ArmNumbers {
    std::string arm;
    std::string simsiamRun, probeRun, finetuneRun;
    double knnStart = NAN, knnFinal = NAN, simsiamSeconds = NAN;
    int64_t simsiamSteps = 0;
    std::vector<CurvePoint> knn; ///< the SimSiam run's monitor
    double probeAuc = NAN, probeBal = NAN, finetuneAuc = NAN, finetuneBal = NAN;
    nlohmann::json labelEfficiency; ///< the probe's summary list
    std::string state;
};

double finalOf(const ComparedRun& r, const char* name)
{
    const auto it = r.finals.find(name);
    return it == r.finals.end() ? NAN : it->second;
}

/// Every arm's numbers, read from its runs' own files by the one reader of runs (compareRuns).
std::vector<ArmNumbers> gatherArms(Project& project, const ExperimentConfig& c, const std::vector<ExperimentStage>& stages)
{
    RunStore store(project);
    std::vector<ArmNumbers> arms;
    for (const auto& arm : experimentArms()) {
        if (!c.wants(arm))
            continue;
        ArmNumbers a;
        a.arm = arm;
        std::vector<std::string> states;
        for (const auto& s : stages) {
            if (s.arm != arm)
                continue;
            if (s.state != "completed")
                states.push_back(s.stage + " " + s.state + (s.error.empty() ? "" : ": " + s.error));
            if (s.state != "completed" || s.run.empty() || !store.exists(s.run))
                continue;
            const auto cmp = compareRuns(project, {s.run});
            const auto& r = cmp.runs.front();
            if (s.stage == "simsiam") {
                a.simsiamRun = s.run;
                const auto it = r.curves.find(CurveMetric::KnnBalancedAccuracy);
                if (it != r.curves.end() && !it->second.empty()) {
                    a.knn = it->second;
                    a.knnStart = a.knn.front().step == 0 ? a.knn.front().value : NAN;
                    a.knnFinal = a.knn.back().value;
                }
                a.simsiamSeconds = finalOf(r, "seconds");
                a.simsiamSteps = static_cast<int64_t>(std::isnan(finalOf(r, "steps")) ? 0 : finalOf(r, "steps"));
            } else if (s.stage == "probe") {
                a.probeRun = s.run;
                a.probeAuc = finalOf(r, "test_auc");
                a.probeBal = finalOf(r, "test_balanced_accuracy");
                if (!isSimSiamArm(arm)) {
                    a.knnStart = a.knnFinal = finalOf(r, "knn_balanced_accuracy");
                }
                const auto summary = nlohmann::json::parse(store.readSummary(s.run), nullptr, false);
                if (summary.is_object() && summary.contains("label_efficiency"))
                    a.labelEfficiency = summary["label_efficiency"];
            } else if (s.stage == "finetune") {
                a.finetuneRun = s.run;
                a.finetuneAuc = finalOf(r, "test_auc");
                a.finetuneBal = finalOf(r, "test_balanced_accuracy");
            }
        }
        a.state = "completed";
        for (size_t k = 0; k < states.size(); ++k)
            a.state = (k ? a.state + "; " : std::string()) + states[k];
        arms.push_back(a);
    }
    return arms;
}

/// What the figures draw, from the arms' numbers.
std::vector<ExperimentArmCurves> curvesOf(const std::vector<ArmNumbers>& numbers)
{
    std::vector<ExperimentArmCurves> out;
    for (const auto& a : numbers) {
        ExperimentArmCurves arm;
        arm.arm = a.arm;
        arm.title = armTitle(a.arm);
        arm.pretrained = isSimSiamArm(a.arm);
        arm.knn = a.knn;
        if (!arm.pretrained && std::isfinite(a.knnFinal))
            arm.knnLevel = a.knnFinal;
        if (a.labelEfficiency.is_array())
            for (const auto& p : a.labelEfficiency) {
                ExperimentArmCurves::LabelPoint lp;
                lp.fraction = p.value("fraction", 0.0);
                lp.labels = p.value("labels", int64_t(0));
                lp.aucMean = p.value("auc_mean", 0.0);
                lp.aucSd = p.value("auc_sd", 0.0);
                lp.balancedAccuracyMean = p.value("balanced_accuracy_mean", 0.0);
                lp.balancedAccuracySd = p.value("balanced_accuracy_sd", 0.0);
                arm.labelEfficiency.push_back(lp);
            }
        out.push_back(std::move(arm));
    }
    return out;
}

/// The first time a curve reaches `target`, or -1.
double timeToReach(const std::vector<CurvePoint>& curve, double target)
{
    for (const auto& p : curve)
        if (p.value >= target - 1e-12 && p.seconds >= 0)
            return p.seconds;
    return -1;
}

std::string sourceTextOf(Project& project, const ExperimentConfig& c, const std::vector<ExperimentStage>& stages)
{
    if (!c.initFile.empty())
        return "the weights file " + c.initFile;
    if (!c.initRun.empty())
        return "run " + c.initRun + " of this project";
    if (!c.sourceProject.empty()) {
        std::string run = c.sourceRun;
        try {
            (void)sourceCheckpoint(c.sourceProject, c.sourceRun, &run);
        } catch (const std::exception&) {
        }
        return "run " + run + " of the project " + c.sourceProject;
    }
    const std::string up = completedRun(stages, kUpstream, kUpstream);
    return "an upstream classifier trained for " + formatDuration(c.upstreamBudget()) +
           " on half a of the labeled train images" + (up.empty() ? "" : " (run " + up + ")") +
           "; every SimSiam arm then trained on the other half (b), so SimSiam never saw the images the source was trained on";
}

} // namespace

std::string experimentConfigPath(Project& project, const std::string& id) { return experimentDir(project, id) + "/experiment.json"; }

bool isSimSiamArm(const std::string& arm) { return arm == kArmScratch || arm == kArmTransferGn || arm == kArmTransferBn; }
bool usesTransfer(const std::string& arm) { return arm == kArmTransferGn || arm == kArmTransferBn || arm == kArmTransferOnly; }


std::vector<ExperimentStage> readExperimentStages(Project& project, const std::string& id)
{
    std::vector<ExperimentStage> out;
    const auto j = nlohmann::json::parse(readWholeFile(experimentDir(project, id) + "/state.json"), nullptr, false);
    if (!j.is_object() || !j.contains("stages") || !j["stages"].is_array())
        throw UserError("the experiment " + id + " has a damaged state.json");
    for (const auto& s : j["stages"]) {
        ExperimentStage st;
        st.arm = s.value("arm", "");
        st.stage = s.value("stage", "");
        st.run = s.value("run", "");
        st.state = s.value("state", "pending");
        st.error = s.value("error", "");
        out.push_back(st);
    }
    return out;
}

void writeExperimentStages(Project& project, const std::string& id, const std::vector<ExperimentStage>& stages)
{
    nlohmann::ordered_json j;
    auto& list = j["stages"] = nlohmann::ordered_json::array();
    for (const auto& s : stages)
        list.push_back({{"arm", s.arm}, {"stage", s.stage}, {"run", s.run}, {"state", s.state}, {"error", s.error}});
    writeFileAtomically(experimentDir(project, id) + "/state.json", j.dump(1));
}

std::string sourceCheckpoint(const std::string& projectDir, const std::string& run, std::string* usedRun)
{
    auto other = Project::open(projectDir, ProjectAccess::ReadOnly);
    RunStore store(*other);
    std::string chosen = run;
    if (chosen.empty()) {
        for (const char* kind : {"finetune", "simsiam-pretrain"}) {
            for (const auto& r : store.list()) // newest first or not: keep the latest by creation time
                if (r.kind == kind && r.state == "completed" && store.hasCheckpoint(r.id) &&
                    (chosen.empty() || r.createdAt > store.find(chosen)->createdAt))
                    chosen = r.id;
            if (!chosen.empty())
                break;
        }
        if (chosen.empty())
            throw UserError("the source project " + projectDir + " has no completed classifier or SimSiam run to start from");
    }
    if (usedRun)
        *usedRun = chosen;
    return fs::absolute(store.selectedCheckpoint(chosen)).string();
}


std::string completedRun(const std::vector<ExperimentStage>& stages, const std::string& arm, const std::string& stage)
{
    for (const auto& s : stages)
        if (s.arm == arm && s.stage == stage && s.state == "completed")
            return s.run;
    return {};
}


std::vector<std::string> experimentArms() { return {kArmScratch, kArmTransferGn, kArmTransferBn, kArmTransferOnly, kArmRandom}; }

std::string armTitle(const std::string& arm)
{
    if (arm == kArmScratch)
        return "SimSiam from random init";
    if (arm == kArmTransferGn)
        return "SimSiam from the transfer init (GroupNorm + WS)";
    if (arm == kArmTransferBn)
        return "SimSiam from the transfer init (BatchNorm + WS)";
    if (arm == kArmTransferOnly)
        return "transfer init alone";
    if (arm == kArmRandom)
        return "random features";
    if (arm == kUpstream)
        return "upstream transfer source";
    return arm;
}

std::string experimentDir(Project& project, const std::string& id) { return project.dir() + "/experiments/" + id; }

std::vector<std::string> listExperiments(Project& project)
{
    std::vector<std::string> out;
    std::error_code ec;
    const fs::path dir = fs::path(project.dir()) / "experiments";
    if (!fs::is_directory(dir, ec))
        return out;
    for (const auto& e : fs::directory_iterator(dir, ec))
        if (e.is_directory(ec) && fs::exists(e.path() / "experiment.json", ec))
            out.push_back(e.path().filename().string());
    std::sort(out.rbegin(), out.rend());
    return out;
}

// ---- configuration

std::string ExperimentConfig::toJson() const
{
    nlohmann::ordered_json j;
    j["job"] = "transfer-experiment";
    j["arm_seconds"] = armSeconds;
    j["finetune_seconds"] = finetuneSeconds;
    j["upstream_seconds"] = upstreamSeconds;
    j["finetune"] = finetune;
    j["init_file"] = initFile;
    j["init_run"] = initRun;
    j["source_project"] = sourceProject;
    j["source_run"] = sourceRun;
    j["backbone"] = backbone;
    j["seed"] = seed;
    j["batch"] = batch;
    j["bf16"] = bf16 ? nlohmann::json(*bf16) : nlohmann::json(nullptr);
    j["cuda"] = cuda;
    j["label_fractions"] = labelFractions;
    j["label_draws"] = labelDraws;
    j["arms"] = arms;
    return j.dump(1);
}

ExperimentConfig ExperimentConfig::fromJson(const std::string& json)
{
    const auto j = nlohmann::json::parse(json, nullptr, false);
    if (!j.is_object())
        throw UserError("the experiment's settings (experiment.json) are damaged");
    ExperimentConfig c;
    try {
        c.armSeconds = j.value("arm_seconds", c.armSeconds);
        c.finetuneSeconds = j.value("finetune_seconds", c.finetuneSeconds);
        c.upstreamSeconds = j.value("upstream_seconds", c.upstreamSeconds);
        c.finetune = j.value("finetune", c.finetune);
        c.initFile = j.value("init_file", "");
        c.initRun = j.value("init_run", "");
        c.sourceProject = j.value("source_project", "");
        c.sourceRun = j.value("source_run", "");
        c.backbone = j.value("backbone", "");
        c.seed = j.value("seed", c.seed);
        c.batch = j.value("batch", c.batch);
        if (j.contains("bf16") && j["bf16"].is_boolean())
            c.bf16 = j["bf16"].get<bool>();
        c.cuda = j.value("cuda", c.cuda);
        if (j.contains("label_fractions"))
            c.labelFractions = j["label_fractions"].get<std::vector<double>>();
        c.labelDraws = j.value("label_draws", c.labelDraws);
        if (j.contains("arms"))
            c.arms = j["arms"].get<std::vector<std::string>>();
    } catch (const nlohmann::json::exception& e) {
        throw UserError(std::string("the experiment's settings (experiment.json) are damaged: ") + e.what());
    }
    return c;
}

double ExperimentConfig::finetuneBudget() const { return finetuneSeconds > 0 ? finetuneSeconds : std::max(30.0, armSeconds / 5); }
double ExperimentConfig::upstreamBudget() const { return upstreamSeconds > 0 ? upstreamSeconds : std::max(10.0, armSeconds / 4); }

bool ExperimentConfig::wants(const std::string& arm) const
{
    return arms.empty() || std::find(arms.begin(), arms.end(), arm) != arms.end();
}

double ExperimentConfig::plannedSeconds() const
{
    double s = upstream() ? upstreamBudget() : 0;
    for (const auto& arm : experimentArms()) {
        if (!wants(arm))
            continue;
        if (isSimSiamArm(arm))
            s += armSeconds;
        if (finetune)
            s += finetuneBudget();
    }
    return s;
}

void ExperimentConfig::validate() const
{
    if (!(armSeconds >= 1))
        throw UserError("each arm needs a time budget of at least 1 second");
    if (finetuneSeconds < 0 || upstreamSeconds < 0)
        throw UserError("a time budget is at least 1 second");
    const int sources = int(!initFile.empty()) + int(!initRun.empty()) + int(!sourceProject.empty());
    if (sources > 1)
        throw UserError("give one transfer source: a weights file, a run of this project or another project, not several");
    if (!sourceRun.empty() && sourceProject.empty())
        throw UserError("a source run belongs to a source project: name the project too");
    const std::vector<std::string> known = experimentArms();
    for (const auto& a : arms)
        if (std::find(known.begin(), known.end(), a) == known.end()) {
            std::string names;
            for (const auto& n : known)
                names += (names.empty() ? "" : ", ") + n;
            throw UserError("unknown arm \"" + a + "\"; the arms are " + names);
        }
    if (!arms.empty() && std::none_of(arms.begin(), arms.end(), [](const std::string& a) { return !a.empty(); }))
        throw UserError("choose at least one arm");
    for (double f : labelFractions)
        if (!(f > 0 && f <= 1))
            throw UserError("a label fraction is above 0 and at most 1 (100%)");
    if (labelDraws < 1 || labelDraws > 100)
        throw UserError("the draws of a label fraction are 1 to 100");
}

// ---- the result



ExperimentResult summarizeExperiment(Project& project, const std::string& id)
{
    std::error_code ec;
    if (!fs::exists(experimentConfigPath(project, id), ec))
        throw UserError("no experiment \"" + id + "\" in this project");
    const ExperimentConfig c = ExperimentConfig::fromJson(readWholeFile(experimentConfigPath(project, id)));
    ExperimentResult result;
    result.id = id;
    result.stages = readExperimentStages(project, id);
    result.complete = std::all_of(result.stages.begin(), result.stages.end(), [](const ExperimentStage& s) {
        return s.state == "completed" || s.state == "failed" || s.state == "skipped";
    });
    result.sourceText = sourceTextOf(project, c, result.stages);

    const std::vector<ArmNumbers> arms = gatherArms(project, c, result.stages);
    result.arms = curvesOf(arms);
    const std::string dir = experimentDir(project, id);

    // table.csv
    {
        std::vector<std::string> header{"arm", "title", "state", "simsiam_run", "simsiam_steps", "simsiam_seconds", "knn_balanced_accuracy_start",
                                        "knn_balanced_accuracy_final", "probe_run", "probe_test_auc", "probe_test_balanced_accuracy",
                                        "finetune_run", "finetune_test_auc", "finetune_test_balanced_accuracy"};
        for (double f : c.labelFractions)
            for (const char* m : {"auc", "balanced_accuracy"}) {
                const std::string pct = text::formatNumber(f * 100);
                header.push_back("labels_" + pct + "pct_" + m + "_mean");
                header.push_back("labels_" + pct + "pct_" + m + "_sd");
            }
        std::ostringstream out;
        auto row = [&](const std::vector<std::string>& fields) {
            for (size_t i = 0; i < fields.size(); ++i)
                out << (i ? "," : "") << csvField(fields[i]);
            out << '\n';
        };
        auto num = [](double v) { return std::isfinite(v) ? text::formatNumber(v) : std::string(); };
        row(header);
        for (const auto& a : arms) {
            std::vector<std::string> f{a.arm, armTitle(a.arm), a.state, a.simsiamRun, a.simsiamRun.empty() ? "" : std::to_string(a.simsiamSteps),
                                       num(a.simsiamSeconds), num(a.knnStart), num(a.knnFinal), a.probeRun, num(a.probeAuc), num(a.probeBal),
                                       a.finetuneRun, num(a.finetuneAuc), num(a.finetuneBal)};
            for (double fr : c.labelFractions) {
                nlohmann::json pt;
                if (a.labelEfficiency.is_array())
                    for (const auto& p : a.labelEfficiency)
                        if (std::fabs(p.value("fraction", -1.0) - fr) < 1e-9)
                            pt = p;
                for (const char* m : {"auc", "balanced_accuracy"}) {
                    const std::string k = m;
                    f.push_back(pt.is_object() && pt.contains(k + "_mean") ? num(pt[k + "_mean"].get<double>()) : "");
                    f.push_back(pt.is_object() && pt.contains(k + "_sd") ? num(pt[k + "_sd"].get<double>()) : "");
                }
            }
            row(f);
        }
        writeFileAtomically(dir + "/table.csv", out.str());
        result.files.push_back("table.csv");
    }
    // curves.csv: the kNN monitor of the SimSiam arms; the other arms' kNN as one point at step 0.
    {
        std::ostringstream out;
        out << "arm,step,epoch,images,seconds,knn_balanced_accuracy\n";
        for (const auto& a : arms) {
            for (const auto& p : a.knn)
                out << a.arm << ',' << p.step << ',' << text::formatNumber(p.epoch) << ',' << text::formatNumber(p.images) << ','
                    << (p.seconds >= 0 ? text::formatNumber(p.seconds) : "") << ',' << text::formatNumber(p.value) << '\n';
            if (a.knn.empty() && std::isfinite(a.knnFinal))
                out << a.arm << ",0,0,0,0," << text::formatNumber(a.knnFinal) << '\n';
        }
        writeFileAtomically(dir + "/curves.csv", out.str());
        result.files.push_back("curves.csv");
    }
    // label_efficiency.csv: every draw.
    {
        std::ostringstream out;
        out << "arm,fraction,labels,split,draw,auc,balanced_accuracy\n";
        for (const auto& a : arms) {
            if (!a.labelEfficiency.is_array())
                continue;
            for (const auto& p : a.labelEfficiency) {
                const auto aucs = p.value("auc", std::vector<double>{});
                const auto bals = p.value("balanced_accuracy", std::vector<double>{});
                for (size_t d = 0; d < aucs.size() && d < bals.size(); ++d)
                    out << a.arm << ',' << text::formatNumber(p.value("fraction", 0.0)) << ',' << p.value("labels", int64_t(0)) << ','
                        << p.value("split", std::string("test")) << ',' << d << ',' << text::formatNumber(aucs[d]) << ','
                        << text::formatNumber(bals[d]) << '\n';
            }
        }
        writeFileAtomically(dir + "/label_efficiency.csv", out.str());
        result.files.push_back("label_efficiency.csv");
    }

    // The finding: only what was measured, with its numbers.
    auto find = [&](const std::string& arm) -> const ArmNumbers* {
        for (const auto& a : arms)
            if (a.arm == arm)
                return &a;
        return nullptr;
    };
    std::vector<std::string>& F = result.finding;
    F.push_back("Transfer source: " + result.sourceText + ".");
    const ArmNumbers* scratch = find(kArmScratch);
    const ArmNumbers* gn = find(kArmTransferGn);
    const ArmNumbers* bn = find(kArmTransferBn);
    const ArmNumbers* alone = find(kArmTransferOnly);
    const ArmNumbers* floor = find(kArmRandom);
    // 1. Convergence: does transfer speed SimSiam up?
    if (scratch && std::isfinite(scratch->knnFinal) && scratch->knn.size() >= 2) {
        const double target = scratch->knnFinal, tScratch = scratch->knn.back().seconds;
        for (const ArmNumbers* t : {gn, bn}) {
            if (!t || t->knn.empty())
                continue;
            const std::string who = armTitle(t->arm);
            const double reach = timeToReach(t->knn, target);
            if (reach == 0 || (t->knn.front().step == 0 && t->knn.front().value >= target))
                F.push_back(who + " started at kNN balanced accuracy " + fmt(t->knn.front().value) + ", already at or above from-scratch SimSiam's final " +
                            fmt(target) + " (after " + text::humanDuration(tScratch) + ") before its first step.");
            else if (reach > 0 && tScratch > 0)
                F.push_back(who + " reached from-scratch SimSiam's final kNN balanced accuracy (" + fmt(target) + " after " +
                            text::humanDuration(tScratch) + ") in " + fmt(100 * reach / tScratch, 0) + "% of its time (" +
                            text::humanDuration(reach) + "); its own final was " + fmt(t->knnFinal) + ".");
            else
                F.push_back(who + " did not reach from-scratch SimSiam's final kNN balanced accuracy (" + fmt(target) +
                            ") within the same budget: its final was " + fmt(t->knnFinal) + ". Here transfer did not speed SimSiam up.");
        }
    }
    // 2. Does transfer + SimSiam beat each alone? Judged on the downstream classifier (fine-tune,
    //    else the probe), on test ROC AUC.
    auto downstream = [&](const ArmNumbers* a, std::string* how) -> double {
        if (!a)
            return NAN;
        if (std::isfinite(a->finetuneAuc)) {
            *how = "fine-tuned";
            return a->finetuneAuc;
        }
        *how = "linear probe";
        return a->probeAuc;
    };
    std::string howGn, howScratch, howAlone;
    const double dGn = downstream(gn, &howGn), dScratch = downstream(scratch, &howScratch), dAlone = downstream(alone, &howAlone);
    if (std::isfinite(dGn) && std::isfinite(dScratch) && std::isfinite(dAlone)) {
        const double next = std::max(dScratch, dAlone);
        const std::string nextName = dScratch >= dAlone ? "SimSiam from random init" : "the transfer init alone";
        const std::string numbers = " on test ROC AUC (" + howGn + "): " + fmt(dGn) + " from the transfer init with SimSiam, against " +
                                    fmt(dScratch) + " for SimSiam from random init and " + fmt(dAlone) + " for the transfer init alone";
        if (dGn > next && dGn - next >= kSeedNoise)
            F.push_back("Transfer + SimSiam beat each alone" + numbers + ".");
        else if (dGn > next)
            F.push_back("Transfer + SimSiam scored highest" + numbers + ", but only " + fmt(dGn - next) + " above " + nextName +
                        ", within what another seed may change: no clear gain over each alone.");
        else
            F.push_back("Transfer + SimSiam did not beat each alone" + numbers + ".");
    }
    // 3. Normalization: a winner only where the difference is beyond seed noise.
    if (gn && bn && std::isfinite(gn->knnFinal) && std::isfinite(bn->knnFinal)) {
        std::string hg, hb;
        const double a = downstream(gn, &hg), b = downstream(bn, &hb);
        std::string s = "Normalization: keeping GroupNorm + WS ended at kNN balanced accuracy " + fmt(gn->knnFinal) +
                        ", converting to BatchNorm + WS at " + fmt(bn->knnFinal);
        const bool haveAuc = std::isfinite(a) && std::isfinite(b);
        if (haveAuc)
            s += "; test ROC AUC (" + hg + ") " + fmt(a) + " against " + fmt(b);
        auto verdict = [](double x, double y) { return x - y >= kSeedNoise ? 1 : y - x >= kSeedNoise ? -1 : 0; };
        const int byKnn = verdict(gn->knnFinal, bn->knnFinal), byAuc = haveAuc ? verdict(a, b) : 0;
        const char* gnWins = "GroupNorm + WS";
        const char* bnWins = "BatchNorm + WS";
        if (byKnn != 0 && haveAuc && byAuc == 0)
            s += std::string(". ") + (byKnn > 0 ? gnWins : bnWins) + " kept the better features (kNN " + fmt(std::fabs(gn->knnFinal - bn->knnFinal)) +
                 " higher); after fine-tuning the two are within seed noise (" + fmt(std::fabs(a - b)) + ").";
        else if (byKnn != 0 && (byAuc == byKnn || !haveAuc))
            s += std::string(": ") + (byKnn > 0 ? gnWins : bnWins) + " combined better here.";
        else if (byKnn == 0 && byAuc != 0)
            s += std::string(": ") + (byAuc > 0 ? gnWins : bnWins) + " gave the better classifier; their kNN are within seed noise.";
        else if (byKnn != 0 && byAuc != 0)
            s += ": the two measures disagree (kNN favours " + std::string(byKnn > 0 ? gnWins : bnWins) + ", the fine-tuned AUC " +
                 (byAuc > 0 ? gnWins : bnWins) + ").";
        else
            s += ": within seed noise of each other here.";
        F.push_back(s);
    }
    // 4. The floor.
    if (floor && std::isfinite(floor->probeAuc))
        F.push_back("Random features (the floor) gave a linear-probe test ROC AUC of " + fmt(floor->probeAuc) + " and balanced accuracy " +
                    fmt(floor->probeBal) + ".");
    // 5. Label efficiency at the fewest labels.
    if (!c.labelFractions.empty()) {
        const double few = c.labelFractions.front();
        std::string s;
        for (const auto& a : arms) {
            if (!a.labelEfficiency.is_array())
                continue;
            for (const auto& p : a.labelEfficiency)
                if (std::fabs(p.value("fraction", -1.0) - few) < 1e-9)
                    s += (s.empty() ? "" : "; ") + armTitle(a.arm) + " " + fmt(p.value("auc_mean", NAN)) + " +- " + fmt(p.value("auc_sd", NAN)) +
                         " (" + std::to_string(p.value("labels", int64_t(0))) + " labels)";
        }
        if (!s.empty())
            F.push_back("With " + text::formatNumber(few * 100) + "% of the train labels, linear-probe test ROC AUC (mean +- sd over draws): " + s + ".");
    }
    for (const auto& s : result.stages)
        if (s.state == "failed" || s.state == "skipped")
            F.push_back("Not measured: " + armTitle(s.arm) + ", " + s.stage + " " + s.state + (s.error.empty() ? "" : " (" + s.error + ")") + ".");
    if (!result.complete)
        F.push_back("The experiment is not finished: stages are left (resume it to complete them).");
    F.push_back("One seed (" + std::to_string(c.seed) + ") and one run per arm: differences of about " + fmt(kSeedNoise, 2) +
                " may change with another seed.");
    std::string text;
    for (const auto& s : F)
        text += s + "\n";
    writeFileAtomically(dir + "/finding.txt", text);
    result.files.push_back("finding.txt");
    return result;
}


std::vector<ExperimentArmCurves> experimentCurves(Project& project, const std::string& id)
{
    const ExperimentConfig c = ExperimentConfig::fromJson(readWholeFile(experimentConfigPath(project, id)));
    return curvesOf(gatherArms(project, c, readExperimentStages(project, id)));
}

} // namespace medsiam::core
