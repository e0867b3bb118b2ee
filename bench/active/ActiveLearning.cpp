// The active-learning evidence: does reviewing the least certain images first need fewer labels
// than labeling images at random? On a MedMNIST-style archive (the bundled PneumoniaMNIST), both
// strategies start from the same stratified draw of labeled train images, then add a fixed number
// of labels per round, chosen least certain first (core::reviewQueue over core::predictProject's
// stored predictions, as the desktop app's review queue orders them) or at random; the known
// labels stand in for the person. Each round fine-tunes a new classifier with medsiam's default
// recipe on the same time budget (from scratch, so that the rounds differ only in their labels)
// and scores it on the test split. Prints one line per round and strategy.
//
//   bench_active_learning NPZ WORK_DIR [BUDGET_S=30] [ROUNDS=5] [START=20] [STEP=20] [THREADS=2] [SEED=0]
#include "analysis/Predict.h"
#include "eval/Predictions.h"
#include "project/Importer.h"
#include "project/Project.h"
#include "system/Runtime.h"
#include "train/FinetuneJob.h"
#include "train/RunRequest.h"
#include "train/TrainConfig.h"
#include "util/Error.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

using namespace medsiam::core;

namespace {

struct Scores {
    std::string runId;
    double auc = 0, balanced = 0;
    std::vector<double> recall;
};

class TestScores : public JobObserver {
public:
    void evaluation(const EvalEvent& e) override
    {
        if (e.split == "test")
            last = e;
    }
    EvalEvent last;
};

Scores trainRound(Project& project, double budget, uint64_t seed)
{
    RunRequest r;
    r.budgetSeconds = budget;
    r.seed = seed;
    const auto built = buildFinetune(project, r, machineContext());
    if (!built.config) {
        std::string why;
        for (const auto& reason : built.refusals)
            why += reason + " ";
        throw UserError("cannot fine-tune: " + why);
    }
    const std::string id = FinetuneJob::create(project, *built.config);
    TestScores observer;
    JobControl control;
    if (FinetuneJob(project, id).run(observer, control) != JobState::Completed)
        throw UserError("fine-tuning run " + id + " did not complete");
    return {id, observer.last.metrics.macroAuc, observer.last.metrics.balancedAccuracy, observer.last.metrics.recall};
}

/// Every train image labeled when in `pool` (with its true class), unlabeled otherwise.
void applyPool(Project& project, const std::map<int64_t, int64_t>& truth, const std::set<int64_t>& pool)
{
    std::vector<std::pair<int64_t, int64_t>> labels;
    for (const auto& [id, classId] : truth)
        labels.emplace_back(id, pool.count(id) ? classId : 0);
    project.setLabels(labels, "bench");
}

} // namespace

int main(int argc, char** argv)
{
    if (argc < 3) {
        std::fprintf(stderr, "usage: bench_active_learning NPZ WORK_DIR [BUDGET_S] [ROUNDS] [START] [STEP] [THREADS] [SEED]\n");
        return 2;
    }
    const std::string npz = argv[1], work = argv[2];
    const double budget = argc > 3 ? std::stod(argv[3]) : 30;
    const int rounds = argc > 4 ? std::stoi(argv[4]) : 5;
    const int start = argc > 5 ? std::stoi(argv[5]) : 20;
    const int step = argc > 6 ? std::stoi(argv[6]) : 20;
    const int threads = argc > 7 ? std::stoi(argv[7]) : 2;
    const uint64_t seed = argc > 8 ? std::stoull(argv[8]) : 0;
    try {
        configureThreads(threads);
        std::filesystem::remove_all(work);
        auto project = Project::create(work + "/al.medsiam", 32);
        ImportOptions io;
        io.sources = {npz};
        importSources(*project, io);
        // The known labels of the train images, and a stratified first draw.
        std::map<int64_t, int64_t> truth;
        std::map<int, std::vector<int64_t>> byClass;
        const auto classes = project->classes();
        for (const auto& item : project->trainingItems())
            if (item.split == "train" && item.classIndex >= 0) {
                truth[item.imageId] = classes[static_cast<size_t>(item.classIndex)].id;
                byClass[item.classIndex].push_back(item.imageId);
            }
        std::mt19937_64 rng(seed);
        std::set<int64_t> first;
        for (auto& [c, ids] : byClass)
            std::shuffle(ids.begin(), ids.end(), rng);
        for (size_t k = 0; static_cast<int>(first.size()) < start; ++k)
            for (auto& [c, ids] : byClass)
                if (k < ids.size() && static_cast<int>(first.size()) < start)
                    first.insert(ids[k]);
        std::printf("active learning on %s: %zu train images, start %d labels, %d rounds of %d, %.0f s per fine-tune, %d threads\n",
                    npz.c_str(), truth.size(), start, rounds, step, budget, threads);
        std::printf("%-16s %6s %9s %18s\n", "strategy", "labels", "test AUC", "balanced accuracy");
        for (const char* strategy : {"least-certain", "random"}) {
            std::set<int64_t> pool = first;
            std::mt19937_64 pick(seed + 1);
            for (int round = 0; round <= rounds; ++round) {
                applyPool(*project, truth, pool);
                const Scores s = trainRound(*project, budget, seed + uint64_t(round));
                std::printf("%-16s %6zu %9.3f %18.3f\n", strategy, pool.size(), s.auc, s.balanced);
                std::fflush(stdout);
                if (round == rounds)
                    break;
                std::vector<int64_t> next;
                if (std::string(strategy) == "least-certain") {
                    // The classifier of this round, as the review queue orders its predictions.
                    predictProject(*project, s.runId, {});
                    for (const auto& c : reviewQueue(*project, s.runId))
                        if (truth.count(c.imageId) && static_cast<int>(next.size()) < step)
                            next.push_back(c.imageId);
                } else {
                    std::vector<int64_t> unlabeled;
                    for (const auto& [id, c] : truth)
                        if (!pool.count(id))
                            unlabeled.push_back(id);
                    std::shuffle(unlabeled.begin(), unlabeled.end(), pick);
                    next.assign(unlabeled.begin(), unlabeled.begin() + std::min<std::ptrdiff_t>(step, std::ptrdiff_t(unlabeled.size())));
                }
                pool.insert(next.begin(), next.end());
            }
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_active_learning: %s\n", e.what());
        return 1;
    }
    return 0;
}
