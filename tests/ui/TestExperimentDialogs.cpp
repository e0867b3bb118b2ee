// Train > Compare Runs and Train > New Experiment as a user meets them: two runs ticked show
// their curves and the settings that differ, highlighted; unticking one updates the view; the
// comparison exports its figure and tables. A new experiment started from the dialog runs on a
// worker thread, and its result (finding, figure, table) appears in the dialog when it ends.
#include "UiTestSupport.h"

#include "experiment/CompareRunsDialog.h"
#include "experiment/ExperimentDialog.h"

#include "project/Project.h"
#include "system/Runtime.h"
#include "train/Experiment.h"
#include "train/PretrainJob.h"

#include <QCheckBox>
#include <QDir>
#include <QFileInfo>
#include <QListWidget>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>

using namespace medsiam;

class TestExperimentDialogs : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void compareRunsShowsDifferences();
    void experimentFromTheDialog();

private:
    QTemporaryDir m_tmp;
    QString m_dir;
    std::string m_a, m_b;
};

void TestExperimentDialogs::initTestCase()
{
    core::configureThreads(2);
    m_dir = m_tmp.path() + "/p.medsiam";
    auto p = test::makeImportedProject(m_dir, m_tmp.path() + "/src", 300);
    test::labelAlternately(*p, 300);
    test::assignSplits(*p, [](int i) { return i < 240 ? "train" : i < 270 ? "val" : "test"; });
    core::JobObserver quiet;
    core::JobControl control;
    auto a = test::tinyPretrain(6, 32, 32);
    a.monitorEvery = 3;
    m_a = core::PretrainJob::create(*p, a);
    QCOMPARE(core::PretrainJob(*p, m_a).run(quiet, control), core::JobState::Completed);
    auto b = test::tinyPretrain(6, 16, 32);
    b.monitorEvery = 3;
    m_b = core::PretrainJob::create(*p, b);
    QCOMPARE(core::PretrainJob(*p, m_b).run(quiet, control), core::JobState::Completed);
}

void TestExperimentDialogs::compareRunsShowsDifferences()
{
    auto p = core::Project::open(m_dir.toStdString(), core::ProjectAccess::ReadOnly);
    ui::CompareRunsDialog d(*p, {QString::fromStdString(m_a), QString::fromStdString(m_b)});
    d.show();
    QCOMPARE(d.comparison().runs.size(), size_t(2));
    QVERIFY(d.comparison().differs("batch"));
    // The differing settings come first, highlighted; the same ones are plain.
    QTableWidget* t = d.table();
    int batchRow = -1, seedRow = -1;
    for (int r = 0; r < t->rowCount(); ++r) {
        if (t->verticalHeaderItem(r)->text() == "batch")
            batchRow = r;
        if (t->verticalHeaderItem(r)->text() == "seed")
            seedRow = r;
    }
    QVERIFY(batchRow >= 0 && seedRow >= 0);
    QVERIFY(batchRow < static_cast<int>(d.comparison().differing.size()));
    const int colA = t->horizontalHeaderItem(0)->text() == QString::fromStdString(m_a) ? 0 : 1;
    QCOMPARE(t->horizontalHeaderItem(colA)->text(), QString::fromStdString(m_a));
    QCOMPARE(t->item(batchRow, colA)->text(), QString("32"));
    QCOMPARE(t->item(batchRow, 1 - colA)->text(), QString("16"));
    QVERIFY(t->item(batchRow, 0)->font().bold());
    QVERIFY(t->item(batchRow, 0)->background() != t->item(seedRow, 0)->background());
    QVERIFY(!t->item(seedRow, 0)->font().bold());

    d.setCurve(core::CurveMetric::Loss, core::CurveAxis::Seconds);
    QTemporaryDir out;
    const QStringList files = d.exportTo(out.path());
    QCOMPARE(files.size(), 4);
    QVERIFY(QFileInfo(out.path() + "/compare.png").size() > 5000);

    // Unticking a run leaves one.
    auto* list = d.findChild<QListWidget*>();
    for (int i = 0; i < list->count(); ++i)
        if (list->item(i)->data(Qt::UserRole).toString() == QString::fromStdString(m_b))
            list->item(i)->setCheckState(Qt::Unchecked);
    QCOMPARE(d.comparison().runs.size(), size_t(1));
    QCOMPARE(d.comparison().runs.front().id, m_a);
}

void TestExperimentDialogs::experimentFromTheDialog()
{
    ui::ExperimentDialog d(m_dir);
    d.show();
    d.budgetMinutes()->setValue(0);
    d.budgetSeconds()->setValue(3);
    d.finetune()->setChecked(false);
    QSignalSpy done(&d, &ui::ExperimentDialog::experimentFinished);
    QVERIFY(d.start());
    QVERIFY(d.job() && d.job()->running());
    QVERIFY(done.wait(600000));
    QCOMPARE(done.front().at(1).value<core::JobState>(), core::JobState::Completed);
    const QString id = done.front().at(0).toString();
    QVERIFY2(d.findingText().contains("Transfer source: an upstream classifier"), qPrintable(d.findingText()));
    QVERIFY(d.findingText().contains("Normalization:"));
    QVERIFY(QFileInfo(m_dir + "/experiments/" + id + "/figure.png").size() > 10000);
    auto* table = d.findChild<QTableWidget*>();
    QVERIFY(table);
    QCOMPARE(table->rowCount(), 5);
}

QTEST_MAIN(TestExperimentDialogs)
#include "TestExperimentDialogs.moc"
