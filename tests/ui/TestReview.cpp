// The review queue in the desktop app: Train > Predict Unlabeled classifies the unlabeled images
// on a worker thread and lists them least certain first (the browser sorts and filters by the same
// predictions); Enter accepts a prediction as the label, a class key corrects it, Ctrl+Z undoes,
// every label committed to the project; Retrain and Refresh trains the next classifier from the
// last one and refreshes the queue.
#include "UiTestSupport.h"

#include "browser/BrowserView.h"
#include "browser/CatalogueModel.h"
#include "analysis/Predict.h"
#include "mainwindow/MainWindow.h"
#include "models/ModelConfig.h"
#include "project/Project.h"
#include "project/ProjectSession.h"
#include "project/RunStore.h"
#include "review/ReviewDialog.h"
#include "system/Runtime.h"
#include "train/FinetuneJob.h"

#include <QApplication>
#include <QSettings>
#include <QTemporaryDir>
#include <QTest>

#include <nlohmann/json.hpp>

using namespace medsiam;

namespace {

constexpr int kImages = 60, kUnlabeled = 10;

/// kImages noisy PNGs in train (30) / val (15) / test (15), all labeled but the first kUnlabeled,
/// and a 6-step fine-tuning of bit-nano: its id.
std::string makeProject(const QString& dir, const QString& src)
{
    auto p = test::makeImportedProject(dir, src, kImages);
    test::labelAlternately(*p, kImages);
    test::assignSplits(*p, [](int i) { return i < 30 ? "train" : i < 45 ? "val" : "test"; });
    std::vector<std::pair<int64_t, int64_t>> clear;
    const auto rows = p->catalogue();
    for (int i = 0; i < kUnlabeled; ++i)
        clear.emplace_back(rows[static_cast<size_t>(i)].imageId, 0);
    p->setLabels(clear, "user");
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

/// The label (class id, 0 none) the project has stored for an image, read by a fresh connection.
int64_t storedLabel(const QString& project, qint64 imageId)
{
    auto p = core::Project::open(project.toStdString(), core::ProjectAccess::ReadOnly);
    for (const auto& r : p->catalogue())
        if (r.imageId == imageId)
            return r.classId > 0 ? r.classId : 0;
    return -1;
}

bool waitIdle(ui::ReviewDialog* d, int ms)
{
    return QTest::qWaitFor([d] { return !d->busy(); }, ms);
}

} // namespace

class TestReview : public QObject {
    Q_OBJECT
    QTemporaryDir m_tmp;
    QString m_project, m_run;

private Q_SLOTS:
    void initTestCase()
    {
        QApplication::setOrganizationName("medsiam-tests");
        QApplication::setApplicationName("test_review");
        QSettings().clear();
        core::configureThreads(2);
        QVERIFY(m_tmp.isValid());
        m_project = m_tmp.filePath("p");
        m_run = QString::fromStdString(makeProject(m_project, m_tmp.filePath("src")));
    }

    void predictFillsTheQueueLeastCertainFirst()
    {
        ui::MainWindow w;
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w) && w.openProject(m_project));
        ui::ReviewDialog* d = w.showReview(true); // predicts: the run has classified nothing yet
        QVERIFY(d);
        QCOMPARE(d->currentRun(), m_run);
        QVERIFY(d->busy());
        QVERIFY(waitIdle(d, 120000));
        const auto ids = d->queueIds();
        QCOMPARE(ids.size(), kUnlabeled);
        const auto margins = d->queueMargins();
        for (int i = 1; i < margins.size(); ++i)
            QVERIFY2(margins[i - 1] <= margins[i], qPrintable(QString("margin %1 before %2").arg(margins[i - 1]).arg(margins[i])));
        // The same order core gives from the stored predictions.
        auto p = core::Project::open(m_project.toStdString(), core::ProjectAccess::ReadOnly);
        const auto queue = core::reviewQueue(*p, m_run.toStdString());
        QCOMPARE(int(queue.size()), kUnlabeled);
        for (int i = 0; i < kUnlabeled; ++i)
            QCOMPARE(ids[i], queue[size_t(i)].imageId);
        QVERIFY2(d->statusText().contains("least certain first"), qPrintable(d->statusText()));
        QCOMPARE(d->currentImageId(), ids.front());
        QVERIFY(QTest::qWaitFor([d] { return d->captionText().contains("Grad-CAM of"); }, 60000));

        // The browser shows the same predictions: least certain first, filtered by predicted class.
        ui::BrowserView* b = w.browser();
        b->setSort(ui::BrowserSort::LeastCertain);
        ui::BrowserFilter unlabeled;
        unlabeled.classId = ui::BrowserFilter::kUnlabeled;
        b->setFilter(unlabeled);
        QCOMPARE(b->model()->rowCount(), kUnlabeled);
        for (int r = 0; r < kUnlabeled; ++r)
            QCOMPARE(b->model()->imageIdAt(r), ids[r]);
        const int predicted = queue.front().predicted;
        ui::BrowserFilter f;
        f.predicted = predicted;
        b->setFilter(f);
        int expected = 0;
        for (const auto& pr : p->predictions(m_run.toStdString()))
            expected += core::predictedClass(pr.probabilities) == predicted;
        QCOMPARE(b->model()->rowCount(), expected);
        const QString name = w.session()->classes()[size_t(predicted)].name.c_str();
        for (int r = 0; r < b->model()->rowCount(); ++r)
            QVERIFY(b->model()->index(r).data(ui::CatalogueModel::PredictionRole).toString().startsWith(name + " "));
        b->setFilter({});
    }

    void acceptAndCorrectWriteLabelsThatUndoRestores()
    {
        ui::MainWindow w;
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w) && w.openProject(m_project));
        ui::ReviewDialog* d = w.showReview(true); // predicts only when the run has not classified them all
        QVERIFY(waitIdle(d, 120000));
        QCOMPARE(d->queueIds().size(), kUnlabeled);
        d->raise();
        d->activateWindow();
        QApplication::setActiveWindow(d); // the keys go to the window a person would be typing in
        QVERIFY(QTest::qWaitForWindowActive(d));
        QTRY_VERIFY(QApplication::focusWidget() && QApplication::focusWidget()->window() == d);
        auto p = core::Project::open(m_project.toStdString(), core::ProjectAccess::ReadOnly);
        const auto queue = core::reviewQueue(*p, m_run.toStdString());
        const auto& classes = w.session()->classes();
        const qint64 first = d->currentImageId();
        QCOMPARE(first, queue.front().imageId);
        QTest::keyClick(d, Qt::Key_Return); // accept the prediction
        QCOMPARE(storedLabel(m_project, first), classes[size_t(queue.front().predicted)].id);
        const qint64 second = d->currentImageId();
        QCOMPARE(second, queue[1].imageId); // moved on to the next
        const auto* pneumonia = w.session()->classForShortcut("2");
        QVERIFY(pneumonia);
        QTest::keyClick(d, Qt::Key_2); // correct: whatever was predicted, it is pneumonia
        QCOMPARE(storedLabel(m_project, second), pneumonia->id);
        QCOMPARE(d->currentImageId(), queue[2].imageId);
        QTest::keyClick(d, Qt::Key_Z, Qt::ControlModifier);
        QCOMPARE(storedLabel(m_project, second), int64_t(0));
        QCOMPARE(storedLabel(m_project, first), classes[size_t(queue.front().predicted)].id);
        QTest::keyClick(d, Qt::Key_Z, Qt::ControlModifier);
        QCOMPARE(storedLabel(m_project, first), int64_t(0));
        // Skipping labels nothing.
        const qint64 before = d->currentImageId();
        QTest::keyClick(d, Qt::Key_Right);
        QVERIFY(d->currentImageId() != before);
        QCOMPARE(storedLabel(m_project, before), int64_t(0));
    }

    void retrainStartsFromTheLastClassifierAndRefreshes()
    {
        ui::MainWindow w;
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w) && w.openProject(m_project));
        ui::ReviewDialog* d = w.showReview(true);
        QVERIFY(waitIdle(d, 120000));
        QCOMPARE(d->queueIds().size(), kUnlabeled);
        for (int i = 0; i < 3; ++i)
            d->acceptCurrent();
        d->retrain();
        QVERIFY(d->busy());
        QVERIFY(waitIdle(d, 300000));
        const QString next = d->currentRun();
        QVERIFY2(next != m_run, qPrintable(d->statusText()));
        QCOMPARE(d->queueIds().size(), kUnlabeled - 3);
        auto p = core::Project::open(m_project.toStdString(), core::ProjectAccess::ReadOnly);
        core::RunStore store(*p);
        const auto run = store.find(next.toStdString());
        QVERIFY(run && run->kind == "finetune" && run->state == "completed");
        const auto config = nlohmann::json::parse(store.readConfig(next.toStdString()));
        QCOMPARE(QString::fromStdString(config.value("init_weights", std::string())).contains(m_run), true);
    }
};

QTEST_MAIN(TestReview)
#include "TestReview.moc"
