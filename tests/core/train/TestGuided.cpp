// The rules behind the guided path and the first-session fixes, in core: which key a class gets,
// a run's name and notes (kept in the project and beside the run, refused in words when they
// cannot be), whether a project is ready for a classifier and what is missing, the time budget of
// a plan, and a classifier's result as a sentence.
#include "TestSupport.h"

#include "project/Project.h"
#include "project/ProjectBackup.h"
#include "project/RunStore.h"
#include "train/ClassifierChain.h"
#include "util/Error.h"

#include <QFile>
#include <QTemporaryDir>
#include <QTest>

#include <cmath>

using namespace medsiam;
using namespace medsiam::core;

namespace {

/// A project with `n` catalogue rows (no files), patient "P<i / 2>".
std::unique_ptr<Project> catalogue(const QString& dir, int n)
{
    auto p = Project::create(dir.toStdString(), 16);
    Database::Transaction tx(p->db());
    for (int i = 0; i < n; ++i) {
        ImageRecord r;
        r.sourcePath = "/nonexistent/img" + std::to_string(i) + ".png";
        r.relativePath = "img" + std::to_string(i) + ".png";
        r.meta.format = ImageFormat::Png;
        r.meta.rows = r.meta.columns = 16;
        r.meta.patientId = "P" + std::to_string(i / 2);
        r.contentHash = std::to_string(i);
        p->insertImage(r);
    }
    tx.commit();
    return p;
}

std::vector<ClassInfo> named(std::initializer_list<const char*> names)
{
    std::vector<ClassInfo> out;
    for (const char* n : names)
        out.push_back({0, n, "", ""});
    return out;
}

std::vector<std::string> keysOf(const std::vector<ClassInfo>& classes)
{
    std::vector<std::string> out;
    for (const auto& c : classes)
        out.push_back(c.shortcut);
    return out;
}

} // namespace

class TestGuided : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void aClassNamedByADigitGetsThatKey()
    {
        auto c = named({"0", "1"});
        QCOMPARE(assignDefaultKeys(c, {0, 1}), size_t(2));
        QCOMPARE(keysOf(c), std::vector<std::string>({"0", "1"}));
        // Order does not matter, and names keep 1, 2, ... with the digits' keys left to them.
        c = named({"normal", "2", "pneumonia"});
        assignDefaultKeys(c, {0, 1, 2});
        QCOMPARE(keysOf(c), std::vector<std::string>({"1", "2", "3"}));
        // A class configured before keeps its key (even none); a digit already taken is not stolen.
        c = named({"tumour", "1"});
        c[0].shortcut = "1";
        assignDefaultKeys(c, {1});
        QCOMPARE(keysOf(c), std::vector<std::string>({"1", "2"}));
        // Ten keys: the eleventh class gets none.
        c = named({"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"});
        QCOMPARE(assignDefaultKeys(c, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}), size_t(10));
        QCOMPARE(c[9].shortcut, std::string("0"));
        QCOMPARE(c[10].shortcut, std::string());
    }

    void aRunKeepsItsNameAndNotes()
    {
        QTemporaryDir tmp;
        const QString dir = tmp.filePath("p");
        std::string id;
        {
            auto p = catalogue(dir, 2);
            backupProject(*p); // before the run: a restore registers it again from its folder
            RunStore store(*p);
            id = store.create("simsiam", "simsiam-pretrain", R"({"job":"simsiam-pretrain"})");
            store.describe(id, "  BiT start, 10 minutes ", "loss flat after step 300\nGN kept");
            QCOMPARE(store.find(id)->title, std::string("BiT start, 10 minutes"));
            QCOMPARE(store.find(id)->note, std::string("loss flat after step 300\nGN kept"));
            QVERIFY(QFile::exists(QString::fromStdString(store.notesPath(id))));
            // Refused in words, and nothing changes.
            QCOMPARE(test::errorOf([&] { store.describe(id, std::string(201, 'x'), ""); }),
                     std::string("a run's name can have at most 200 characters (this one has 201)"));
            QCOMPARE(test::errorOf([&] { store.describe(id, "two\nlines", ""); }),
                     std::string("a run's name is one line; put the rest in its notes"));
            QVERIFY(test::errorOf([&] { store.describe("no-such-run", "x", ""); }).find("no-such-run") != std::string::npos);
            QCOMPARE(store.find(id)->title, std::string("BiT start, 10 minutes"));
        }
        // A catalogue restored from a backup that predates the run gets the name back from its folder.
        const RestoreResult restored = restoreProjectBackup(dir.toStdString());
        QCOMPARE(restored.runsFound, std::vector<std::string>({id}));
        auto p = Project::open(dir.toStdString());
        QCOMPARE(p->run(id)->title, std::string("BiT start, 10 minutes"));
        QCOMPARE(p->run(id)->note, std::string("loss flat after step 300\nGN kept"));
    }

    void readinessSaysWhatIsMissingAndWhatWeakensTheResult()
    {
        QTemporaryDir tmp;
        auto p = catalogue(tmp.filePath("p"), 40);
        ClassifierReadiness r = assessClassifierReadiness(*p);
        QVERIFY(!r.ready());
        QCOMPARE(r.images, int64_t(40));
        QCOMPARE(r.patients, int64_t(20));
        QCOMPARE(r.withPatient, int64_t(40));
        QVERIFY(r.missing.at(0).find("no image is labeled yet") != std::string::npos);
        // One class labeled.
        const int64_t benign = p->ensureClass("benign"), malignant = p->ensureClass("malignant");
        const auto rows = p->catalogue();
        for (int i = 0; i < 12; ++i)
            p->setLabel(rows[i].imageId, benign, "user");
        r = assessClassifierReadiness(*p);
        QVERIFY(r.missing.at(0).find("only \u201cbenign\u201d has any") != std::string::npos);
        // Two classes, but no splits.
        for (int i = 12; i < 20; ++i)
            p->setLabel(rows[i].imageId, malignant, "user");
        r = assessClassifierReadiness(*p);
        QCOMPARE(r.missing, std::vector<std::string>({"None of the 20 labeled images is in the training split. Give the images "
                                                      "splits (Data > Splits)."}));
        // Splits: benign 10 train, 2 test; malignant 6 train, 2 test: malignant is short of 4.
        std::vector<std::pair<int64_t, std::string>> splits;
        for (int i = 0; i < 20; ++i)
            splits.emplace_back(rows[i].imageId, (i < 10 || (i >= 12 && i < 18)) ? "train" : "test");
        p->replaceSplits(splits);
        r = assessClassifierReadiness(*p);
        QCOMPARE(r.classes.at(0).train, int64_t(10));
        QCOMPARE(r.classes.at(1).test, int64_t(2));
        QCOMPARE(r.missing, std::vector<std::string>({"Class \u201cmalignant\u201d has 6 labeled training images; label at least "
                                                      "10 (4 more) in the training split."}));
        QVERIFY(!r.cautions.empty());
        QCOMPARE(r.cautions.at(0), std::string("No labeled validation images: the model cannot be chosen by its validation score. "
                                               "Data > Splits can set some aside."));
        // Images 10/11 (patient P5) are test, 8/9 (P4) train: no patient straddles; 16-17 (P8)
        // train and 18-19 (P9) test. Moving image 11 to train makes P5 straddle.
        splits[11].second = "train";
        splits[16].second = "test";
        p->replaceSplits(splits);
        r = assessClassifierReadiness(*p);
        QCOMPARE(r.leakingPatients, int64_t(2));
        QVERIFY(std::any_of(r.cautions.begin(), r.cautions.end(),
                            [](const std::string& c) { return c.find("2 patients have images in more than one split") == 0; }));
    }

    void aPlanNeedsTimeForWhatItDoes()
    {
        ClassifierPlan plan;
        plan.budgetSeconds = 600;
        QCOMPARE(plan.pretrainSeconds() + plan.finetuneSeconds(), 600.0);
        QVERIFY(plan.pretrainSeconds() > 0 && plan.finetuneSeconds() > 0);
        plan.budgetSeconds = 90;
        QVERIFY(test::errorOf([&] { plan.validate(); }).find("at least 2 minutes") != std::string::npos);
        plan.mode = ClassifierMode::Quick;
        plan.validate(); // 90 s is enough to fine-tune
        QCOMPARE(plan.pretrainSeconds(), 0.0);
        QCOMPARE(plan.finetuneSeconds(), 90.0);
        QVERIFY(!parseClassifierMode("fast"));
        QCOMPARE(*parseClassifierMode("best"), ClassifierMode::Best);
    }

    void theResultIsASentence()
    {
        FinetuneSummary s;
        s.classes = {"benign", "malignant"};
        ClassificationMetrics m;
        m.numClasses = 2;
        m.samples = 156;
        m.recall = {0.79, 0.8205};
        m.support = {78, 78};
        m.macroAuc = 0.8804;
        s.test = m;
        QCOMPARE(plainWordsResult(s),
                 std::string("On 156 test images this model finds 79% of benign and 82% of malignant cases (ROC AUC 0.88)."));
        // Without test images: on validation, and it says what that means.
        s.test.reset();
        m.macroAuc = std::nan("");
        s.val = m;
        QCOMPARE(plainWordsResult(s), std::string("On 156 validation images this model finds 79% of benign and 82% of malignant "
                                                  "cases. These are the validation images that chose the model: expect somewhat "
                                                  "less on new images."));
        QCOMPARE(plainWordsResult(FinetuneSummary()), std::string());
    }
};

QTEST_MAIN(TestGuided)
#include "TestGuided.moc"
