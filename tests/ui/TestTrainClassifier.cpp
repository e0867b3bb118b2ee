// Train > Train a Classifier, the guided path: it says what is missing when the labels are not
// enough, and on the bundled PneumoniaMNIST data trains SimSiam and then the classifier as one job
// with one progress bar, ending with the result in plain words.
#include "OnModal.h"
#include "UiTestSupport.h"

#include "mainwindow/MainWindow.h"
#include "project/Importer.h"
#include "project/Project.h"
#include "project/ProjectSession.h"
#include "project/RunStore.h"
#include "results/ResultsPanel.h"
#include "system/Runtime.h"
#include "training/TrainClassifierDialog.h"
#include "training/TrainingPanel.h"

#include <QApplication>
#include <QComboBox>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QRadioButton>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>

#include <algorithm>

using namespace medsiam;

class TestTrainClassifier : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase()
    {
        QApplication::setOrganizationName("medsiam-tests");
        QApplication::setApplicationName("test_train_classifier");
        QSettings().clear();
        core::configureThreads(2);
    }

    void tooFewLabelsAreExplainedAndNothingStarts()
    {
        QTemporaryDir tmp;
        {
            auto p = test::makeImportedProject(tmp.filePath("p"), tmp.filePath("src"), 30, true);
            test::labelAlternately(*p, 16); // 8 of each
            test::assignSplits(*p, [](int i) { return i < 12 ? "train" : i < 16 ? "test" : ""; });
        }
        ui::MainWindow w;
        w.show();
        QVERIFY(w.openProject(tmp.filePath("p")));
        ui::TrainClassifierDialog* d = w.showTrainClassifier();
        QVERIFY(d);
        // What the project has, per class and split.
        QTableWidget* counts = d->countsTable();
        QCOMPARE(counts->rowCount(), 2);
        QCOMPARE(counts->item(0, 0)->text(), QString("normal"));
        QCOMPARE(counts->item(0, 1)->text(), QString("6"));
        QCOMPARE(counts->item(0, 3)->text(), QString("2"));
        const QString text = d->readinessText();
        QVERIFY2(text.contains("30 images in all, 16 labeled, 14 not labeled"), qPrintable(text));
        QVERIFY2(text.contains("Class \u201cnormal\u201d has 6 labeled training images; label at least 10 (4 more)"), qPrintable(text));
        QVERIFY2(text.contains("No labeled validation images"), qPrintable(text));
        QVERIFY(!d->trainButton()->isEnabled());
        QString told;
        test::onModal<QMessageBox>([&](QMessageBox* box) {
            told = box->text();
            box->accept();
        });
        QVERIFY(!d->start());
        QVERIFY2(told.contains("label at least 10 (4 more)"), qPrintable(told));
        QVERIFY(!d->running());
        QCOMPARE(core::RunStore(w.session()->project()).list().size(), size_t(0));
        d->close();
    }

    void theGuidedPathTrainsAClassifierOnTheBundledData()
    {
        QTemporaryDir tmp;
        {
            auto p = core::Project::create(tmp.filePath("p").toStdString(), 32);
            core::ImportOptions o;
            o.sources = {MEDSIAM_SOURCE_DIR "/datasets/pneumoniamnist_28.npz"};
            core::importSources(*p, o);
        }
        ui::MainWindow w;
        w.show();
        QVERIFY(w.openProject(tmp.filePath("p")));
        ui::TrainClassifierDialog* d = w.showTrainClassifier();
        QVERIFY(d);
        QVERIFY2(d->readinessText().contains("5030 images in all"), qPrintable(d->readinessText()));
        QVERIFY(d->trainButton()->isEnabled());
        d->budget()->setValue(2);
        d->best()->setChecked(true);
        QList<int> values;
        connect(d->progress(), &QProgressBar::valueChanged, this, [&](int v) { values << v; });
        QSignalSpy finished(d, &ui::TrainClassifierDialog::finished);
        QSignalSpy created(d, &ui::TrainClassifierDialog::runCreated);
        QVERIFY(d->start());
        QVERIFY(d->running());
        QVERIFY(finished.wait(400000));
        QCOMPARE(finished.first()[0].toString(), QString("completed"));
        // Two runs, SimSiam and the classifier started from it, shown in Training Runs.
        QCOMPARE(created.size(), 2);
        const QString simsiam = created[0][0].toString(), classifier = created[1][0].toString();
        QVERIFY(simsiam.startsWith("simsiam"));
        QCOMPARE(d->classifierRun(), classifier);
        QVERIFY(QString::fromStdString(core::RunStore(w.session()->project()).readConfig(classifier.toStdString())).contains(simsiam));
        QVERIFY(w.trainingPanel()->selectRun(simsiam) && w.trainingPanel()->selectRun(classifier));
        // One bar, from the start to 100%, never going back.
        QVERIFY(values.size() > 3);
        for (int i = 1; i < values.size(); ++i)
            QVERIFY2(values[i] >= values[i - 1], qPrintable(QString("%1 after %2").arg(values[i]).arg(values[i - 1])));
        QCOMPARE(d->progress()->value(), 100);
        QVERIFY2(std::any_of(values.begin(), values.end(), [](int v) { return v > 0 && v < 60; }) &&
                     std::any_of(values.begin(), values.end(), [](int v) { return v >= 60 && v < 100; }),
                 "the bar moves through the SimSiam stage and then the fine-tune");
        // The result in plain words: each class's recall on the 624 test images, and the AUC.
        const QString result = d->resultText();
        QVERIFY2(result.contains("On 624 test images this model finds"), qPrintable(result));
        QVERIFY2(result.contains("% of normal") && result.contains("% of pneumonia"), qPrintable(result));
        QVERIFY2(result.contains("ROC AUC 0."), qPrintable(result));
        QVERIFY(result.contains("Where to look next"));
        // Show the Results opens the classifier's confusion matrix.
        for (QPushButton* b : d->findChildren<QPushButton*>())
            if (b->text() == "Show the Results")
                b->click();
        QVERIFY(w.resultsPanel()->isVisible());
        QCOMPARE(w.resultsPanel()->currentRun(), classifier);
        d->close();
    }
};

QTEST_MAIN(TestTrainClassifier)
#include "TestTrainClassifier.moc"
