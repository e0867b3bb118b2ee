// Classification results in the desktop window: a fine-tuned run's metrics per split, the
// confusion matrix whose cells list their images (most confident first) and open them, and plain
// words when there is nothing to show or the classes changed since the run was evaluated.
#include "UiTestSupport.h"

#include "eval/Metrics.h"
#include "browser/BrowserView.h"
#include "mainwindow/MainWindow.h"
#include "models/ModelConfig.h"
#include "project/Project.h"
#include "project/ProjectSession.h"
#include "results/ResultsPanel.h"
#include "system/Runtime.h"
#include "train/FinetuneJob.h"

#include <QApplication>
#include <QListWidget>
#include <QProcess>
#include <QSettings>
#include <QSignalSpy>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>

#include <algorithm>
#include <cmath>

using namespace medsiam;

namespace {

constexpr int kImages = 60;

// kImages noisy PNGs, all labeled (normal / pneumonia alternately), split 30 train / 15 val /
// 15 test, and a 6-step fine-tuning of bit-nano: its id.
std::string makeEvaluatedProject(const QString& dir, const QString& src)
{
    auto p = test::makeImportedProject(dir, src, kImages);
    test::labelAlternately(*p, kImages);
    test::assignSplits(*p, [](int i) { return i < 30 ? "train" : i < 45 ? "val" : "test"; });
    core::FinetuneConfig c;
    c.model.backbone = core::backbonePreset("bit-nano");
    c.model.backbone.inChannels = 1;
    c.model.backbone.numClasses = 2;
    c.steps = 6;
    c.batch = 8;
    c.microBatch = 8;
    c.crop = 16;
    const std::string id = core::FinetuneJob::create(*p, c);
    core::FinetuneJob job(*p, id);
    core::JobObserver quiet;
    core::JobControl control;
    job.run(quiet, control);
    return id;
}

ui::ResultsPanel* openWithResults(ui::MainWindow& w, const QString& project)
{
    w.show();
    if (!QTest::qWaitForWindowExposed(&w) || !w.openProject(project))
        return nullptr;
    w.showResults();
    return w.resultsPanel();
}

} // namespace

class TestResultsPanel : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase()
    {
        QApplication::setOrganizationName("medsiam-tests");
        QApplication::setApplicationName("test_results_panel");
        QSettings().clear();
        core::configureThreads(2);
        QVERIFY(m_tmp.isValid());
        m_project = m_tmp.filePath("p");
        m_run = QString::fromStdString(makeEvaluatedProject(m_project, m_tmp.filePath("src")));
    }

    void metricsAndConfusionOfTheTestSplit()
    {
        // What the panel must show, from the stored predictions.
        auto p = core::Project::open(m_project.toStdString());
        std::vector<int> truth;
        std::vector<float> probs;
        std::vector<int64_t> ids;
        for (const auto& r : p->predictions(m_run.toStdString()))
            if (r.split == "test") {
                truth.push_back(r.truth);
                probs.insert(probs.end(), r.probabilities.begin(), r.probabilities.end());
                ids.push_back(r.imageId);
            }
        QCOMPARE(truth.size(), size_t(15));
        const auto m = core::computeMetrics(truth, probs, 2);

        ui::MainWindow w;
        ui::ResultsPanel* panel = openWithResults(w, m_project);
        QVERIFY(panel);
        QCOMPARE(panel->currentRun(), m_run);
        const QString summary = panel->summaryText();
        QVERIFY2(summary.startsWith("test: 15 images"), qPrintable(summary));
        QVERIFY2(summary.contains(QString("accuracy %1").arg(m.accuracy, 0, 'f', 3)), qPrintable(summary));
        QVERIFY2(summary.contains(QString("balanced accuracy %1").arg(m.balancedAccuracy, 0, 'f', 3)), qPrintable(summary));
        QCOMPARE(panel->perClass()->rowCount(), 2);
        QCOMPARE(panel->perClass()->item(0, 0)->text(), QString("normal"));
        QCOMPARE(panel->perClass()->item(1, 5)->text().toLongLong() + panel->perClass()->item(0, 5)->text().toLongLong(), 15LL);
        QTableWidget* cm = panel->confusion();
        QCOMPARE(cm->rowCount(), 2);
        for (int t = 0; t < 2; ++t)
            for (int q = 0; q < 2; ++q)
                QVERIFY2(cm->item(t, q)->text().startsWith(QString::number(m.confusion[t][q]) + "\n"), qPrintable(cm->item(t, q)->text()));

        // Each cell lists its images, most confident first; activating one shows it.
        int listed = 0;
        for (int t = 0; t < 2; ++t)
            for (int q = 0; q < 2; ++q) {
                panel->showCell(t, q);
                QListWidget* list = panel->cellImages();
                QCOMPARE(int64_t(list->count()), m.confusion[t][q]);
                listed += list->count();
                double last = 2;
                for (int i = 0; i < list->count(); ++i) {
                    const QString text = list->item(i)->text();
                    const double pr = text.section("= ", 1).section(' ', 0, 0).toDouble();
                    QVERIFY2(pr <= last, qPrintable(text));
                    last = pr;
                }
                if (list->count() > 0) {
                    const qint64 id = list->item(0)->data(Qt::UserRole).toLongLong();
                    QVERIFY(std::count(ids.begin(), ids.end(), id) == 1);
                    Q_EMIT list->itemActivated(list->item(0));
                    QCOMPARE(w.browser()->currentImageId(), id);
                }
            }
        QCOMPARE(listed, 15);
        // Selecting an image of a cell shows its Grad-CAM, for the predicted class, with the
        // probability the evaluation stored.
        int cellT = -1, cellP = -1;
        for (int t = 0; t < 2; ++t)
            for (int q = 0; q < 2; ++q)
                if (cellT < 0 && m.confusion[t][q] > 0) {
                    cellT = t;
                    cellP = q;
                }
        panel->showCell(cellT, cellP);
        QSignalSpy explained(panel, &ui::ResultsPanel::explained);
        panel->cellImages()->setCurrentRow(0);
        QVERIFY(explained.wait(60000));
        QCOMPARE(explained.first()[0].toLongLong(), panel->cellImages()->item(0)->data(Qt::UserRole).toLongLong());
        const QString caption = panel->camCaption();
        const QString predictedName = cellP == 0 ? "normal" : "pneumonia";
        QVERIFY2(caption.contains("Grad-CAM of " + predictedName + " (p = "), qPrintable(caption));
        const double listedP = panel->cellImages()->item(0)->text().section("= ", 1).section(' ', 0, 0).toDouble();
        const double camP = caption.section("(p = ", 1).section(')', 0, 0).toDouble();
        QVERIFY2(std::abs(listedP - camP) <= 0.002, qPrintable(caption));
        QVERIFY(!panel->camPixmap().isNull());
        // At the run's 16 px the final map is one cell; the deepest with 4 x 4 is stage 1's.
        QVERIFY2(caption.contains("at 16 px, from the map of stage 1 (4 x 4 cells)"), qPrintable(caption));
        // The val split too.
        QVERIFY(panel->selectSplit("val"));
        QVERIFY2(panel->summaryText().startsWith("val: 15 images"), qPrintable(panel->summaryText()));
    }

    void gradCamOfARunThatIsNoClassifierIsExplained()
    {
        // A linear probe's predictions are reviewable, but it has no network to explain.
        {
            auto p = core::Project::open(m_project.toStdString());
            std::vector<core::PredictionRecord> preds;
            for (auto r : p->predictions(m_run.toStdString()))
                preds.push_back(r);
            p->recordRun({"probe-test", "linear-probe", "completed", "", "{}", "{}", "", "", "", ""});
            p->storePredictions("probe-test", preds);
        }
        ui::MainWindow w;
        ui::ResultsPanel* panel = openWithResults(w, m_project);
        QVERIFY(panel);
        QVERIFY(panel->selectRun("probe-test"));
        for (int t = 0; t < 2 && panel->cellImages()->count() == 0; ++t)
            for (int q = 0; q < 2 && panel->cellImages()->count() == 0; ++q)
                panel->showCell(t, q);
        QVERIFY(panel->cellImages()->count() > 0);
        QSignalSpy explained(panel, &ui::ResultsPanel::explained);
        panel->cellImages()->setCurrentRow(0);
        QVERIFY(explained.wait(60000));
        QVERIFY2(panel->camCaption().contains("is a linear-probe run; choose a fine-tuned"), qPrintable(panel->camCaption()));
        QVERIFY(panel->camPixmap().isNull());
    }

    void withoutResultsThePanelSaysHowToGetThem()
    {
        QTemporaryDir tmp;
        test::makeImportedProject(tmp.filePath("p"), tmp.filePath("src"), 4);
        ui::MainWindow w;
        ui::ResultsPanel* panel = openWithResults(w, tmp.filePath("p"));
        QVERIFY(panel);
        QVERIFY(panel->currentRun().isEmpty());
        QVERIFY2(panel->summaryText().contains("fine-tune a classifier"), qPrintable(panel->summaryText()));
        QCOMPARE(panel->confusion()->rowCount(), 0);
    }

    void aOneClassClassifierIsCalledOut()
    {
        // Noise images with labels that say nothing about them, 9 in 10 of them "normal", and no
        // class balancing: the classifier learns the prior and calls every image normal. Its
        // accuracy looks fine (~90%); the CLI's output and the panel must say what it is.
        QTemporaryDir tmp;
        const QString dir = tmp.filePath("p");
        {
            auto p = test::makeImportedProject(dir, tmp.filePath("src"), 60);
            const int64_t normal = p->ensureClass("normal"), pneumonia = p->ensureClass("pneumonia");
            std::vector<std::pair<int64_t, int64_t>> labels;
            const auto rows = p->catalogue();
            for (size_t i = 0; i < rows.size(); ++i)
                labels.emplace_back(rows[i].imageId, i % 10 == 3 ? pneumonia : normal);
            p->setLabels(labels, "user");
            test::assignSplits(*p, [](int i) { return i < 30 ? "train" : i < 50 ? "val" : "test"; });
        }
        QProcess cli;
        cli.start(QStringLiteral(MEDSIAM_CLI), {"finetune", dir, "--backbone", "bit-nano", "--steps", "30", "--batch", "10", "--size", "16",
                                                "--class-balance", "none", "--threads", "2"});
        QVERIFY(cli.waitForFinished(300000));
        const QString out = QString::fromUtf8(cli.readAllStandardOutput());
        QVERIFY2(cli.exitCode() == 0, qPrintable(out + cli.readAllStandardError()));
        QVERIFY2(out.contains("WARNING: the classifier predicts 'normal' for 100% of the validation images"), qPrintable(out));
        // The warning sits next to the numbers it qualifies.
        QVERIFY2(out.indexOf("WARNING") > out.indexOf("  test "), qPrintable(out));

        {
            ui::MainWindow w;
            ui::ResultsPanel* panel = openWithResults(w, dir);
            QVERIFY(panel);
            QVERIFY2(panel->summaryText().startsWith("test: 10 images"), qPrintable(panel->summaryText()));
            QVERIFY2(panel->warningText().contains("predicts 'normal' for 100% of the validation images"),
                     qPrintable(panel->warningText()));
            QVERIFY2(panel->modelText().startsWith("Model: the "), qPrintable(panel->modelText()));
        }
        // Another run's panel follows the same rule on that run's own validation predictions.
        std::vector<int> truth;
        std::vector<float> probs;
        {
            auto p = core::Project::open(m_project.toStdString(), core::ProjectAccess::ReadOnly);
            for (const auto& r : p->predictions(m_run.toStdString()))
                if (r.split == "val") {
                    truth.push_back(r.truth);
                    probs.insert(probs.end(), r.probabilities.begin(), r.probabilities.end());
                }
        }
        const bool warned = !core::qualityWarnings(core::computeMetrics(truth, probs, 2), "validation", {"normal", "pneumonia"}).empty();
        ui::MainWindow w;
        ui::ResultsPanel* panel = openWithResults(w, m_project);
        QVERIFY(panel);
        QVERIFY(panel->selectRun(m_run));
        QCOMPARE(!panel->warningText().isEmpty(), warned);
    }

    void classesChangedSinceTheEvaluationAreExplained()
    {
        {
            auto p = core::Project::open(m_project.toStdString());
            p->ensureClass("effusion"); // a third class, after the run was evaluated
        }
        ui::MainWindow w;
        ui::ResultsPanel* panel = openWithResults(w, m_project);
        QVERIFY(panel);
        QVERIFY2(panel->summaryText().contains("match the project's 3 classes"), qPrintable(panel->summaryText()));
        QCOMPARE(panel->confusion()->rowCount(), 0);
    }

private:
    QTemporaryDir m_tmp;
    QString m_project;
    QString m_run;
};

QTEST_MAIN(TestResultsPanel)
#include "TestResultsPanel.moc"
