// Training from the desktop window: a run is set up in the new-run dialog, trains on a worker
// thread while its curves grow (loss, the collapse monitor against its healthy level, kNN or
// validation monitors), stops with a checkpoint and continues without repeating a step, and its
// curves come back from metrics.jsonl on reopening. Settings the engine refuses are explained
// and the dialog stays open.
#include "OnModal.h"
#include "UiTestSupport.h"

#include "mainwindow/MainWindow.h"
#include "map/MapPanel.h"
#include "project/Importer.h"
#include "project/Project.h"
#include "project/ProjectSession.h"
#include "project/RunStore.h"
#include "system/Runtime.h"
#include "training/NewRunDialog.h"
#include "training/TrainingPanel.h"
#include "models/ModelConfig.h"
#include "train/PretrainJob.h"

#include "io/TensorFile.h"

#include <QApplication>
#include <QComboBox>
#include <QDir>
#include <QElapsedTimer>
#include <QProcess>
#include <QPushButton>
#include <QRegularExpression>
#include <QFile>
#include <QLabel>
#include <QLineEdit>
#include <QJsonObject>
#include <QJsonDocument>
#include <QMessageBox>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>

#include <csignal>
#include <functional>

using namespace medsiam;
using test::onModal;

namespace {

constexpr int kImages = 60;

// kImages noisy PNGs; with `classes`, the classes normal and pneumonia, the first 40 images
// labeled alternately and split 30 train / 10 val; the rest unlabeled in train.
void makeProject(const QString& dir, const QString& src, bool classes)
{
    auto p = test::makeImportedProject(dir, src, kImages, classes);
    if (!classes)
        return;
    test::labelAlternately(*p, 40);
    test::assignSplits(*p, [](int i) { return i >= 30 && i < 40 ? "val" : "train"; });
}

// A small, quick run: `steps` steps of batch 8 at 16 px.
void smallRun(ui::NewRunDialog* d, int steps)
{
    d->length()->setCurrentIndex(d->length()->findData(QStringLiteral("steps")));
    d->steps()->setValue(steps);
    d->batch()->setValue(8);
    d->inputSize()->setValue(16);
}

// Opens the new-run dialog of `kind`, fills it with `fill`, presses Start and expects a refusal:
// the message box is closed, `fill`'s returned check (if any) runs while the dialog is still
// open, the dialog is dismissed, and the refusal's text is returned (empty when none).
QString refusal(ui::TrainingPanel& panel, ui::TrainingJob::Kind kind, const std::function<std::function<void()>(ui::NewRunDialog*)>& fill)
{
    QString error;
    onModal<ui::NewRunDialog>([&](ui::NewRunDialog* d) {
        const auto check = fill(d);
        onModal<QMessageBox>([](QMessageBox* box) { box->accept(); });
        d->accept();
        QTRY_VERIFY_WITH_TIMEOUT(!d->checking(), 60000); // a weights file is checked off the GUI thread
        error = d->lastError();
        if (check)
            check();
        d->reject();
    });
    if (panel.newRun(kind))
        return {};
    return error;
}

ui::TrainingPanel* openWithTraining(ui::MainWindow& w, const QString& project)
{
    w.show();
    if (!QTest::qWaitForWindowExposed(&w) || !w.openProject(project))
        return nullptr;
    w.showTraining();
    return w.trainingPanel();
}

} // namespace

class TestTrainingPanel : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase()
    {
        QApplication::setOrganizationName("medsiam-tests");
        QApplication::setApplicationName("test_training_panel");
        QSettings().clear();
        core::configureThreads(2);
        QVERIFY(m_tmp.isValid());
        m_project = m_tmp.filePath("p");
        makeProject(m_project, m_tmp.filePath("src"), true);
    }

    void pretrainingShowsItsCurvesAsItTrains()
    {
        ui::MainWindow w;
        ui::TrainingPanel* panel = openWithTraining(w, m_project);
        QVERIFY(panel);
        QVERIFY2(panel->statusText().contains("No training run yet"), qPrintable(panel->statusText()));
        QSignalSpy finished(panel, &ui::TrainingPanel::runFinished);
        onModal<ui::NewRunDialog>([](ui::NewRunDialog* d) {
            smallRun(d, 12);
            d->accept();
        });
        QVERIFY(panel->newRun(ui::TrainingJob::Kind::Pretrain));
        QVERIFY(panel->training());
        QVERIFY(finished.wait(120000));
        QCOMPARE(finished.first()[1].toString(), QString("completed"));
        m_pretrainRun = finished.first()[0].toString();
        QCOMPARE(panel->currentRun(), m_pretrainRun);
        QCOMPARE(panel->curvePoints("loss"), 12);
        QCOMPARE(panel->curvePoints("output std"), 12);
        QCOMPARE(panel->curvePoints("healthy"), 2);
        QVERIFY(panel->curvePoints("kNN accuracy") >= 1); // after each epoch of 50 images
        QCOMPARE(panel->curvePoints("val balanced accuracy"), 0);
        QVERIFY2(panel->statusText().contains("completed"), qPrintable(panel->statusText()));
        // The new checkpoint can be mapped at once.
        QVERIFY(w.mapPanel()->selectRun(m_pretrainRun));
    }

    void stopWritesACheckpointAndContinueResumes()
    {
        ui::MainWindow w;
        ui::TrainingPanel* panel = openWithTraining(w, m_project);
        QVERIFY(panel);
        QSignalSpy finished(panel, &ui::TrainingPanel::runFinished);
        onModal<ui::NewRunDialog>([](ui::NewRunDialog* d) {
            smallRun(d, 400);
            d->accept();
        });
        QVERIFY(panel->newRun(ui::TrainingJob::Kind::Pretrain));
        QTRY_VERIFY_WITH_TIMEOUT(panel->curvePoints("loss") >= 3, 60000);
        panel->cancel();
        QVERIFY(finished.wait(60000));
        QCOMPARE(finished.first()[1].toString(), QString("cancelled"));
        const QString run = finished.first()[0].toString();
        const int reached = panel->curvePoints("loss");
        QVERIFY(reached >= 3 && reached < 400);
        QVERIFY2(panel->statusText().contains("stopped after step") && panel->statusText().contains("Press Continue to go on"),
                 qPrintable(panel->statusText()));
        // Continue: from the checkpoint to the end, each step once on the curve.
        QVERIFY(panel->startRun(run, ui::TrainingJob::Kind::Pretrain));
        QVERIFY(finished.wait(180000));
        QCOMPARE(finished.last()[1].toString(), QString("completed"));
        QCOMPARE(panel->curvePoints("loss"), 400);
    }

    void closingTheWindowStopsTheRunWithACheckpoint()
    {
        QString run;
        {
            ui::MainWindow w;
            ui::TrainingPanel* panel = openWithTraining(w, m_project);
            QVERIFY(panel);
            onModal<ui::NewRunDialog>([](ui::NewRunDialog* d) {
                smallRun(d, 5000);
                d->accept();
            });
            QVERIFY(panel->newRun(ui::TrainingJob::Kind::Pretrain));
            run = panel->currentRun();
            QTRY_VERIFY_WITH_TIMEOUT(panel->curvePoints("loss") >= 2, 60000);
        } // the window goes while the run trains: no question, the run stops
        auto p = core::Project::open(m_project.toStdString());
        QString state;
        for (const auto& r : p->runs())
            if (QString::fromStdString(r.id) == run)
                state = QString::fromStdString(r.state);
        QCOMPARE(state, QString("cancelled"));
        core::PretrainJob job(*p, run.toStdString());
        QVERIFY(job.resumeStep() >= 2 && job.resumeStep() < 5000); // a checkpoint to continue from
    }

    void aFinishedRunsCurvesComeBack()
    {
        QVERIFY(!m_pretrainRun.isEmpty());
        ui::MainWindow w;
        ui::TrainingPanel* panel = openWithTraining(w, m_project);
        QVERIFY(panel);
        QVERIFY(panel->selectRun(m_pretrainRun));
        QCOMPARE(panel->curvePoints("loss"), 12);
        QCOMPARE(panel->curvePoints("output std"), 12);
        QCOMPARE(panel->curvePoints("healthy"), 2);
        QVERIFY(panel->curvePoints("kNN accuracy") >= 1);
        QVERIFY2(panel->statusText().contains("completed, 12 step"), qPrintable(panel->statusText()));
    }

    void finetuningShowsValidationMetrics()
    {
        ui::MainWindow w;
        ui::TrainingPanel* panel = openWithTraining(w, m_project);
        QVERIFY(panel);
        QSignalSpy finished(panel, &ui::TrainingPanel::runFinished);
        const QString from = m_pretrainRun;
        onModal<ui::NewRunDialog>([from](ui::NewRunDialog* d) {
            smallRun(d, 6);
            // Start from the SimSiam run: the paper's pipeline.
            const int at = d->init()->findData(QStringLiteral("run:") + from);
            if (at >= 0)
                d->init()->setCurrentIndex(at);
            d->accept();
        });
        QVERIFY(panel->newRun(ui::TrainingJob::Kind::Finetune));
        QVERIFY(finished.wait(120000));
        QCOMPARE(finished.first()[1].toString(), QString("completed"));
        QCOMPARE(panel->curvePoints("loss"), 6);
        QVERIFY(panel->curvePoints("val balanced accuracy") >= 1);
        QVERIFY(panel->curvePoints("val ROC AUC") >= 1);
        QCOMPARE(panel->curvePoints("output std"), 0); // no collapse monitor for a classifier
    }

    void aFailingRunSaysWhy()
    {
        // A run set up elsewhere (medsiam-cli, or an older project) with a batch larger than the
        // images: it starts, fails, and the panel says why.
        QString run;
        {
            auto p = core::Project::open(m_project.toStdString());
            const core::PretrainConfig c = test::tinyPretrain(4, 100, 16);
            run = QString::fromStdString(core::PretrainJob::create(*p, c));
        }
        ui::MainWindow w;
        ui::TrainingPanel* panel = openWithTraining(w, m_project);
        QVERIFY(panel);
        QSignalSpy finished(panel, &ui::TrainingPanel::runFinished);
        QVERIFY(panel->startRun(run, ui::TrainingJob::Kind::Pretrain));
        QVERIFY(finished.wait(60000));
        QCOMPARE(finished.first()[1].toString(), QString("failed"));
        QVERIFY2(panel->statusText().contains("failed") && panel->statusText().contains("at least one full batch"),
                 qPrintable(panel->statusText()));
        QVERIFY(!panel->training());
        QCOMPARE(panel->currentRun(), run);
    }

    void refusedSettingsAreExplainedAndKept()
    {
        QTemporaryDir tmp;
        makeProject(tmp.filePath("p"), tmp.filePath("src"), false); // one class only
        ui::MainWindow w;
        ui::TrainingPanel* panel = openWithTraining(w, tmp.filePath("p"));
        QVERIFY(panel);
        int stepsKept = 0;
        QString error = refusal(*panel, ui::TrainingJob::Kind::Finetune, [&](ui::NewRunDialog* d) {
            d->steps()->setValue(7);
            return [&stepsKept, d] { stepsKept = d->isVisible() ? d->steps()->value() : -1; };
        });
        QVERIFY2(error.contains("needs labeled images of at least two"), qPrintable(error));
        QCOMPARE(stepsKept, 7); // the dialog stayed open with what was typed
        // Pretraining needs no labels, but a weights file that is not there is refused.
        auto fromFile = [](const QString& file) {
            return [file](ui::NewRunDialog* d) {
                smallRun(d, 4);
                d->init()->setCurrentIndex(d->init()->findData(QStringLiteral("file")));
                d->initFile()->setText(file);
                return std::function<void()>();
            };
        };
        error = refusal(*panel, ui::TrainingJob::Kind::Pretrain, fromFile(QStringLiteral("/no/such/weights.npz")));
        QVERIFY2(error.contains("'/no/such/weights.npz' does not exist"), qPrintable(error));
        // A file that holds no weights.
        const QString garbage = tmp.filePath("weights.npz");
        {
            QFile f(garbage);
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write("these are not weights");
        }
        error = refusal(*panel, ui::TrainingJob::Kind::Pretrain, fromFile(garbage));
        QVERIFY2(error.contains("weights.npz"), qPrintable(error));
        // A batch larger than the images to train on.
        error = refusal(*panel, ui::TrainingJob::Kind::Pretrain, [](ui::NewRunDialog* d) {
            d->batch()->setValue(100);
            return std::function<void()>();
        });
        QVERIFY2(error.contains("at least one full batch: 60 images outside val and test, batch 100"), qPrintable(error));
        QVERIFY(!panel->training());
        QVERIFY(panel->currentRun().isEmpty()); // no run was created
    }

    /// The CLI and the dialog refuse the same settings in the same words: both fill a request
    /// that core's run builder checks (train/RunRequest.h).
    void theDialogTrainsForATimeBudgetByDefault()
    {
        // A clinician's first fine-tune: 10 minutes, the recipe for the starting point chosen.
        ui::MainWindow w;
        ui::TrainingPanel* panel = openWithTraining(w, m_project);
        QVERIFY(panel);
        QSettings().remove("newRunDialog"); // the first fine-tune: the dialog remembers nothing yet
        ui::NewRunDialog d(*w.session(), ui::NewRunDialog::Kind::Finetune, &w);
        QCOMPARE(d.length()->currentData().toString(), QString("budget"));
        QCOMPARE(d.budget()->value(), 10);
        QVERIFY(!d.steps()->isEnabled());
        QVERIFY2(d.recipe()->text().startsWith("AdamW"), qPrintable(d.recipe()->text()));
        d.budget()->setValue(3);
        d.accept(); // a start from an earlier run's checkpoint is checked off the GUI thread first
        QTRY_VERIFY_WITH_TIMEOUT(!d.runId().isEmpty() || !d.lastError().isEmpty(), 60000);
        QVERIFY2(d.lastError().isEmpty(), qPrintable(d.lastError()));
        QFile f(m_project + "/runs/" + d.runId() + "/config.json");
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QJsonObject config = QJsonDocument::fromJson(f.readAll()).object();
        QCOMPARE(config["budget_seconds"].toDouble(), 180.0);
        QCOMPARE(config["recipe"].toString(), QString("adamw"));
        QCOMPARE(config["optimizer"].toString(), QString("adamw"));
        // Editing the steps chooses a run of that many steps instead.
        d.steps()->setValue(5);
        QCOMPARE(d.length()->currentData().toString(), QString("steps"));
        QVERIFY(!d.budget()->isEnabled());
        core::RunStore(w.session()->project()).remove(d.runId().toStdString());
    }

    void theCliAndTheDialogRefuseTheSameSettings()
    {
        QTemporaryDir tmp;
        const QString oneClass = tmp.filePath("p");
        makeProject(oneClass, tmp.filePath("src"), false); // one class, 60 images
        const QString garbage = tmp.filePath("weights.npz");
        {
            QFile f(garbage);
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write("these are not weights");
        }
        using Fill = std::function<void(ui::NewRunDialog*)>;
        auto fromFile = [](const QString& file) {
            return [file](ui::NewRunDialog* d) {
                d->batch()->setValue(8); // a batch that fits, so that the weights are what is refused
                d->init()->setCurrentIndex(d->init()->findData(QStringLiteral("file")));
                d->initFile()->setText(file);
            };
        };
        struct Case {
            const char* what;
            ui::TrainingJob::Kind kind;
            QStringList cli;
            Fill fill;
        };
        const QList<Case> cases = {
            {"one class to fine-tune on", ui::TrainingJob::Kind::Finetune, {"finetune", "--steps", "3"},
             [](ui::NewRunDialog* d) { d->steps()->setValue(3); }},
            {"a weights file that does not exist", ui::TrainingJob::Kind::Pretrain,
             {"pretrain", "--batch", "8", "--init", "/no/such/weights.npz"}, fromFile("/no/such/weights.npz")},
            {"a file that holds no weights", ui::TrainingJob::Kind::Pretrain, {"pretrain", "--batch", "8", "--init", garbage},
             fromFile(garbage)},
            {"a batch larger than the images", ui::TrainingJob::Kind::Pretrain, {"pretrain", "--batch", "100"},
             [](ui::NewRunDialog* d) { d->batch()->setValue(100); }},
            {"a SimSiam batch of one image", ui::TrainingJob::Kind::Pretrain, {"pretrain", "--batch", "1"},
             [](ui::NewRunDialog* d) { d->batch()->setValue(1); }},
        };
        QStringList dialogSays;
        {
            ui::MainWindow w;
            ui::TrainingPanel* panel = openWithTraining(w, oneClass);
            QVERIFY(panel);
            for (const Case& c : cases)
                dialogSays << refusal(*panel, c.kind, [&](ui::NewRunDialog* d) {
                    c.fill(d);
                    return std::function<void()>();
                });
            QVERIFY(panel->currentRun().isEmpty()); // no run was created
        } // the window gives the project back to the CLI
        for (int i = 0; i < cases.size(); ++i) {
            const Case& c = cases[i];
            const QString dialog = dialogSays[i];
            QProcess cli;
            cli.start(QStringLiteral(MEDSIAM_CLI), QStringList{c.cli.front(), oneClass} + c.cli.mid(1));
            QVERIFY(cli.waitForFinished(120000));
            QCOMPARE(cli.exitCode(), 1);
            const QString err = QString::fromUtf8(cli.readAllStandardError()).trimmed();
            const QString prefix = QStringLiteral("medsiam-cli %1: error: ").arg(c.cli.front());
            QVERIFY2(err.startsWith(prefix), qPrintable(err));
            const QString cliMessage = err.mid(prefix.size());
            qInfo("%s: %s", c.what, qPrintable(cliMessage));
            QVERIFY2(!dialog.isEmpty(), c.what);
            QCOMPARE(dialog, cliMessage);
        }
        auto p = core::Project::open(oneClass.toStdString(), core::ProjectAccess::ReadOnly);
        QVERIFY(p->runs().empty()); // neither created a run
    }

    /// A run whose process was killed is "interrupted" (not running) for `runs` and the panel,
    /// and can be resumed or deleted from both.
    void aKilledRunIsInterruptedAndCanBeResumedOrDeleted()
    {
        auto startAndKill = [&](QString& id) {
            QProcess train;
            train.start(QStringLiteral(MEDSIAM_CLI), {"pretrain", m_project, "--steps", "3000", "--batch", "8", "--size", "16",
                                                     "--checkpoint-every", "2", "--threads", "1"});
            if (!train.waitForStarted())
                return false;
            const QStringList before = QDir(m_project + "/runs").entryList(QDir::Dirs | QDir::NoDotAndDotDot);
            for (int i = 0; i < 6000 && id.isEmpty(); ++i) {
                QTest::qWait(10);
                for (const QString& d : QDir(m_project + "/runs").entryList(QDir::Dirs | QDir::NoDotAndDotDot))
                    if (!before.contains(d) && QFile::exists(m_project + "/runs/" + d + "/checkpoints/last.safetensors"))
                        id = d;
            }
            ::kill(static_cast<pid_t>(train.processId()), SIGKILL);
            return train.waitForFinished(30000) && !id.isEmpty();
        };
        QString resumed, removed;
        QVERIFY(startAndKill(resumed));
        QVERIFY(startAndKill(removed));
        QProcess runs;
        runs.start(QStringLiteral(MEDSIAM_CLI), {"runs", m_project});
        QVERIFY(runs.waitForFinished(30000));
        const QString listed = QString::fromUtf8(runs.readAllStandardOutput());
        for (const QString& id : {resumed, removed})
            QVERIFY2(QRegularExpression(QRegularExpression::escape(id) + "\\s+simsiam-pretrain\\s+interrupted").match(listed).hasMatch(),
                     qPrintable(listed));
        // The panel says so, and Continue takes the first one up from its checkpoint.
        ui::MainWindow w;
        ui::TrainingPanel* panel = openWithTraining(w, m_project);
        QVERIFY(panel);
        QVERIFY(panel->selectRun(resumed));
        QVERIFY2(panel->findChild<QComboBox*>()->currentText().contains("interrupted"), qPrintable(panel->findChild<QComboBox*>()->currentText()));
        QPushButton* cont = nullptr;
        for (QPushButton* b : panel->findChildren<QPushButton*>())
            if (b->text() == "Continue")
                cont = b;
        QVERIFY(cont && cont->isEnabled());
        const int before = panel->curvePoints("loss");
        QSignalSpy finished(panel, &ui::TrainingPanel::runFinished);
        cont->click();
        QVERIFY(panel->training());
        QTRY_VERIFY_WITH_TIMEOUT(panel->curvePoints("loss") >= before + 3, 60000);
        panel->cancel();
        QVERIFY(finished.wait(60000));
        QCOMPARE(finished.first()[1].toString(), QString("cancelled"));
        // The second goes: from the CLI, and the first from the panel.
        QProcess del;
        del.start(QStringLiteral(MEDSIAM_CLI), {"runs", m_project, "--delete", removed});
        // The window holds the project's lock: the CLI is refused, and says who holds it.
        QVERIFY(del.waitForFinished(30000));
        QCOMPARE(del.exitCode(), 1);
        QVERIFY(QString::fromUtf8(del.readAllStandardError()).contains("is being changed by"));
        QVERIFY(panel->deleteRun(resumed, false));
        QVERIFY(!QDir(m_project + "/runs/" + resumed).exists());
        w.closeProject();
        del.start(QStringLiteral(MEDSIAM_CLI), {"runs", m_project, "--delete", removed});
        QVERIFY(del.waitForFinished(30000));
        QCOMPARE(del.exitCode(), 0);
        QVERIFY(!QDir(m_project + "/runs/" + removed).exists());
        runs.start(QStringLiteral(MEDSIAM_CLI), {"runs", m_project});
        QVERIFY(runs.waitForFinished(30000));
        const QString after = QString::fromUtf8(runs.readAllStandardOutput());
        QVERIFY(!after.contains(resumed) && !after.contains(removed));
    }

private:
    QTemporaryDir m_tmp;
    QString m_project;
    QString m_pretrainRun;
};

QTEST_MAIN(TestTrainingPanel)
#include "TestTrainingPanel.moc"
