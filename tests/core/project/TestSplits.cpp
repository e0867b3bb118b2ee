// Splits as a researcher needs them: fractions respected, classes balanced, and, grouped by
// patient, no patient in two splits; the leakage check finds a patient that is.
#include "project/Splits.h"
#include "util/Error.h"

#include <QtTest>

#include <array>
#include <cmath>
#include <map>
#include <random>
#include <set>

using namespace medsiam::core;

namespace {

/// 300 patients with 1-6 images each, two classes (30% positive patients), a patient's images
/// sharing the patient's class.
std::vector<TrainingItem> cohort()
{
    std::vector<TrainingItem> items;
    std::mt19937 rng(5);
    int64_t id = 1;
    for (int p = 0; p < 300; ++p) {
        const int images = 1 + static_cast<int>(rng() % 6);
        const int cls = (rng() % 10) < 3 ? 1 : 0;
        for (int k = 0; k < images; ++k)
            items.push_back({id++, cls, "", "P" + std::to_string(p)});
    }
    return items;
}

/// Plans splits in `mode` with default fractions and gives every item its planned split.
std::vector<std::string> assignPlan(std::vector<TrainingItem>& items, SplitMode mode)
{
    SplitOptions o;
    o.mode = mode;
    const auto plan = planSplits(items, o);
    for (size_t i = 0; i < items.size(); ++i)
        items[i].split = plan[i];
    return plan;
}

std::map<std::string, int> count(const std::vector<std::string>& plan)
{
    std::map<std::string, int> c;
    for (const auto& s : plan)
        ++c[s];
    return c;
}

} // namespace

class TestSplits : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void patientGroupedSplitHasNoLeakage()
    {
        auto items = cohort();
        const auto plan = assignPlan(items, SplitMode::Patient);
        const auto leak = checkLeakage(items);
        QCOMPARE(leak.patientsChecked, int64_t(300));
        QVERIFY(leak.leakingPatients.empty());
        // Fractions within 3 points, and the positive class close to its share in every split.
        const auto c = count(plan);
        const double n = double(items.size());
        qInfo("patient split of %zu images: train %d, val %d, test %d", items.size(), c.at("train"), c.at("val"), c.at("test"));
        QVERIFY(std::abs(c.at("train") / n - 0.7) < 0.03);
        QVERIFY(std::abs(c.at("val") / n - 0.15) < 0.03);
        QVERIFY(std::abs(c.at("test") / n - 0.15) < 0.03);
        std::map<std::string, std::pair<int, int>> pos;
        int allPos = 0;
        for (size_t i = 0; i < items.size(); ++i) {
            pos[plan[i]].first += items[i].classIndex == 1;
            pos[plan[i]].second += 1;
            allPos += items[i].classIndex == 1;
        }
        for (const auto& [split, pc] : pos)
            QVERIFY2(std::abs(double(pc.first) / pc.second - allPos / n) < 0.06, split.c_str());
    }

    void perImageSplitsLeakAndTheCheckSaysSo()
    {
        auto items = cohort();
        const auto plan = assignPlan(items, SplitMode::Random);
        const auto leak = checkLeakage(items);
        qInfo("per-image random split: %zu of 300 patients leak", leak.leakingPatients.size());
        QVERIFY(leak.leakingPatients.size() > 30);
        // Exact counts in random mode.
        const auto c = count(plan);
        QCOMPARE(c.at("train"), static_cast<int>(std::llround(0.7 * items.size())));
    }

    void stratifiedKeepsClassProportions()
    {
        auto items = cohort();
        SplitOptions o;
        o.mode = SplitMode::Stratified;
        o.fractions = {0.6, 0.2, 0.2};
        const auto plan = planSplits(items, o);
        std::map<std::string, std::array<int, 2>> byClass;
        std::array<int, 2> total{0, 0};
        for (size_t i = 0; i < items.size(); ++i) {
            ++byClass[plan[i]][static_cast<size_t>(items[i].classIndex)];
            ++total[static_cast<size_t>(items[i].classIndex)];
        }
        for (int c = 0; c < 2; ++c) {
            QVERIFY(std::abs(byClass["train"][c] - 0.6 * total[c]) <= 2);
            QVERIFY(std::abs(byClass["val"][c] - 0.2 * total[c]) <= 2);
        }
    }

    void deterministicBySeedAndValidated()
    {
        const auto items = cohort();
        SplitOptions o;
        QCOMPARE(planSplits(items, o), planSplits(items, o));
        SplitOptions other = o;
        other.seed = 9;
        QVERIFY(planSplits(items, other) != planSplits(items, o));
        o.fractions = {0.7, 0.2, 0.2};
        try {
            planSplits(items, o);
            QFAIL("no error");
        } catch (const UserError& e) {
            QVERIFY(QString(e.what()).contains("must add up to 1"));
        }
        try {
            parseSplitMode("per-image");
            QFAIL("no error");
        } catch (const UserError& e) {
            QVERIFY(QString(e.what()).contains("random, stratified or patient"));
        }
    }
};

QTEST_GUILESS_MAIN(TestSplits)
#include "TestSplits.moc"
