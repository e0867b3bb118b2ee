// The embedding map in the desktop window: it lists the runs with a checkpoint, computes a t-SNE
// or PCA map on a worker thread (drawn while it converges), stores it in the run and shows it
// again on reopening; a click on a dot shows that image, a drag selects dots for labeling with
// the class keys; cancel keeps what was reached; a damaged checkpoint or a stale map is explained.
#include "OnModal.h"
#include "UiTestSupport.h"

#include "analysis/Embeddings.h"
#include "io/NpyArray.h"
#include "map/EmbeddingMapView.h"
#include "map/MapPanel.h"
#include "map/SuggestionsDialog.h"
#include "mainwindow/MainWindow.h"
#include "browser/BrowserView.h"
#include "models/ModelConfig.h"
#include "project/Project.h"
#include "project/RunStore.h"
#include "project/ProjectSession.h"
#include "system/Runtime.h"
#include "train/PretrainJob.h"
#include "util/AtomicFile.h"

#include <QApplication>
#include <QDockWidget>
#include <QDoubleSpinBox>
#include <QTimer>
#include <functional>
#include <QFile>
#include <QSettings>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QUndoStack>

using namespace medsiam;
using test::onModal;

namespace {

constexpr int kImages = 60;

// A project of kImages PNGs with classes normal (key 1) and pneumonia (key 2), ten of each
// labeled, and a two-step SimSiam run of bit-nano: its id.
std::string makeProjectWithRun(const QString& dir, const QString& src)
{
    auto p = test::makeImportedProject(dir, src, kImages);
    test::labelAlternately(*p, 20);
    const std::string id = core::PretrainJob::create(*p, test::tinyPretrain(2, 8, 16));
    core::PretrainJob job(*p, id);
    core::JobObserver quiet;
    core::JobControl control;
    job.run(quiet, control);
    return id;
}

// Opens the project in the shown window and shows the map dock.
ui::MapPanel* openWithMap(ui::MainWindow& w, const QString& project)
{
    w.show();
    w.activateWindow();
    if (!QTest::qWaitForWindowActive(&w) || !w.openProject(project))
        return nullptr;
    w.showMap();
    return w.mapPanel();
}

// Computes a map and waits for it; the `finished` arguments (cancelled, error).
QList<QVariant> computeAndWait(ui::MapPanel& panel, bool pca)
{
    QSignalSpy done(&panel, &ui::MapPanel::computationFinished);
    if (!panel.compute(pca) || !done.wait(60000))
        return {};
    return done.takeFirst();
}

} // namespace

class TestEmbeddingMap : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase()
    {
        QApplication::setOrganizationName("medsiam-tests");
        QApplication::setApplicationName("test_embedding_map");
        QSettings().clear();
        core::configureThreads(2);
        QVERIFY(m_tmp.isValid());
        m_project = m_tmp.filePath("p");
        m_run = QString::fromStdString(makeProjectWithRun(m_project, m_tmp.filePath("src")));
    }

    void withoutARunTheMapSaysWhatToDo()
    {
        QTemporaryDir tmp;
        test::makeImportedProject(tmp.filePath("p"), tmp.filePath("src"), 4);
        ui::MainWindow w;
        ui::MapPanel* panel = openWithMap(w, tmp.filePath("p"));
        QVERIFY(panel);
        QVERIFY(panel->currentRun().isEmpty());
        QVERIFY(!panel->compute());
        QVERIFY2(panel->statusText().contains("pretrain or fine-tune"), qPrintable(panel->statusText()));
        QCOMPARE(panel->view()->pointCount(), 0);
    }

    void tsneIsDrawnWhileItConvergesAndStored()
    {
        const QString stored = m_project + "/runs/" + m_run + "/tsne.npy";
        QVERIFY(!QFile::exists(stored));
        ui::MainWindow w;
        ui::MapPanel* panel = openWithMap(w, m_project);
        QVERIFY(panel);
        QCOMPARE(panel->currentRun(), m_run);
        panel->setPerplexity(5);
        QSignalSpy frames(panel, &ui::MapPanel::layoutShown);
        const auto result = computeAndWait(*panel, false);
        QCOMPARE(result.size(), 2);
        QCOMPARE(result[0].toBool(), false);             // not cancelled
        QVERIFY2(result[1].toString().isEmpty(), qPrintable(result[1].toString()));
        QVERIFY2(frames.size() >= 1, "no intermediate layout was drawn");
        QCOMPARE(panel->view()->pointCount(), kImages);
        QVERIFY2(panel->statusText().contains("Stored in the run"), qPrintable(panel->statusText()));
        const core::NpyArray xy = core::loadNpyFile(stored.toStdString());
        QCOMPARE(xy.shape, (std::vector<int64_t>{kImages, 2}));
        // The dots are spread over the view, not piled on one spot.
        const ui::EmbeddingMapView* view = panel->view();
        const auto& rows = w.session()->rows();
        const QPointF a = view->widgetPosition(rows[0].imageId), b = view->widgetPosition(rows[1].imageId);
        QVERIFY(view->rect().contains(a.toPoint()) && view->rect().contains(b.toPoint()));
        QVERIFY((a - b).manhattanLength() > 1);

        // PCA: instant, stored apart from the t-SNE map.
        const auto pca = computeAndWait(*panel, true);
        QCOMPARE(pca.size(), 2);
        QVERIFY2(pca[1].toString().isEmpty(), qPrintable(pca[1].toString()));
        QVERIFY(QFile::exists(m_project + "/runs/" + m_run + "/pca.npy"));
        QCOMPARE(panel->view()->pointCount(), kImages);
    }

    void aStoredMapIsShownOnOpening()
    {
        ui::MainWindow w;
        ui::MapPanel* panel = openWithMap(w, m_project);
        QVERIFY(panel);
        QCOMPARE(panel->view()->pointCount(), kImages); // no computation
        QVERIFY2(panel->statusText().startsWith("Stored t-SNE map of 60 image"), qPrintable(panel->statusText()));
        QVERIFY(!panel->computing());
    }

    void clickShowsTheImageAndDragLabelsTheSelection()
    {
        ui::MainWindow w;
        ui::MapPanel* panel = openWithMap(w, m_project);
        QVERIFY(panel);
        ui::EmbeddingMapView* view = panel->view();
        QCOMPARE(view->pointCount(), kImages);
        ui::ProjectSession& s = *w.session();
        // A click on an image's dot makes it the browser's current image (and the viewer's).
        const int64_t target = s.rows()[7].imageId;
        const QPointF at = view->widgetPosition(target);
        QCOMPARE(view->imageAt(at), qint64(target));
        QTest::mouseClick(view, Qt::LeftButton, {}, at.toPoint());
        QCOMPARE(w.browser()->currentImageId(), target);
        QCOMPARE(view->selectedImageIds(), QVector<qint64>{target});
        // A drag over the whole view selects every dot; key 2 labels them all while the map has
        // the focus, as one undoable step.
        view->setFocus();
        QTest::mousePress(view, Qt::LeftButton, {}, QPoint(1, 1));
        QTest::mouseMove(view, QPoint(view->width() / 2, view->height() / 2));
        QTest::mouseRelease(view, Qt::LeftButton, {}, QPoint(view->width() - 2, view->height() - 2));
        QCOMPARE(view->selectedImageIds().size(), kImages);
        const int64_t pneumonia = s.classes()[1].id;
        QTest::keyClick(view, Qt::Key_2);
        QCOMPARE(s.labeledCount(pneumonia), int64_t(kImages));
        QCOMPARE(s.unlabeledCount(), int64_t(0));
        s.undoStack()->undo();
        QCOMPARE(s.labeledCount(pneumonia), int64_t(10));
        QCOMPARE(s.unlabeledCount(), int64_t(kImages - 20));
        // Escape clears the map's selection; keys then go to the browser's selection again.
        QTest::keyClick(view, Qt::Key_Escape);
        QVERIFY(view->selectedImageIds().isEmpty());
    }

    void suggestionsAreCheckedAcceptedInOneStepOrSelected()
    {
        ui::MainWindow w;
        ui::MapPanel* panel = openWithMap(w, m_project);
        QVERIFY(panel);
        ui::ProjectSession& s = *w.session();
        QCOMPARE(s.unlabeledCount(), int64_t(kImages - 20));
        QSignalSpy done(panel, &ui::MapPanel::suggestionsDone);
        QString summary, chosen;
        int atZero = -1;
        onModal<ui::SuggestionsDialog>([&](ui::SuggestionsDialog* d) {
            summary = d->summaryText();
            d->threshold()->setValue(0);
            chosen = d->chosenText();
            atZero = d->chosenImages().size();
            d->applyChosen();
        });
        QVERIFY(panel->suggestLabels());
        QVERIFY(done.wait(60000));
        QVERIFY2(summary.startsWith("40 unlabeled images have a suggested class"), qPrintable(summary));
        QVERIFY2(summary.contains("Checked on 4 labeled images held back"), qPrintable(summary)); // every 5th of 20
        QCOMPARE(atZero, 40);
        QVERIFY2(chosen.startsWith("40 images at or above it:"), qPrintable(chosen));
        QCOMPARE(s.unlabeledCount(), int64_t(0));
        s.undoStack()->undo(); // one step takes every accepted suggestion back
        QCOMPARE(s.unlabeledCount(), int64_t(kImages - 20));

        // Select on Map: the suggested images become the map's selection, for review.
        done.clear();
        onModal<ui::SuggestionsDialog>([](ui::SuggestionsDialog* d) {
            d->threshold()->setValue(0);
            d->selectChosen();
        });
        QVERIFY(panel->suggestLabels());
        QVERIFY(done.wait(60000));
        const QVector<qint64> selected = panel->view()->selectedImageIds();
        QCOMPARE(selected.size(), 40);
        for (qint64 id : selected)
            QVERIFY(s.rows()[static_cast<size_t>(s.rowOf(id))].classId <= 0); // only unlabeled ones
        QCOMPARE(s.unlabeledCount(), int64_t(kImages - 20));
    }

    /// Small maps draw round antialiased dots, maps over 20,000 points squares written straight
    /// into an image; both show each dot in its class's colour where the view says it is.
    void dotsShowTheirClassColourAtAnySize()
    {
        ui::MainWindow w;
        ui::MapPanel* panel = openWithMap(w, m_project);
        QVERIFY(panel);
        ui::EmbeddingMapView* view = panel->view();
        ui::ProjectSession& s = *w.session();
        const auto& rows = s.rows();
        int64_t labeled = -1, unlabeled = -1;
        for (const auto& r : rows)
            (r.classId > 0 ? labeled : unlabeled) = r.imageId;
        QVERIFY(labeled > 0 && unlabeled > 0);
        const QColor classColour = s.classColor(rows[static_cast<size_t>(s.rowOf(labeled))].classId);
        for (int n : {50, 30000}) {
            QVector<qint64> ids(n, unlabeled);
            QVector<float> xy(2 * n);
            for (int i = 0; i < n; ++i) { // a crowd of unlabeled dots, and one labeled dot alone
                xy[2 * i] = float(i % 100) / 100.0f;
                xy[2 * i + 1] = float(i / 100 % 100) / 100.0f;
            }
            ids[n - 1] = labeled;
            xy[2 * (n - 1)] = 3;
            xy[2 * (n - 1) + 1] = 3;
            view->setMap(ids, xy);
            const QImage shot = view->grab().toImage();
            const QPoint at = view->widgetPosition(labeled).toPoint();
            QVERIFY(view->rect().contains(at));
            QCOMPARE(shot.pixelColor(at).rgb(), classColour.rgb());
            const QPoint crowd = view->widgetPosition(unlabeled).toPoint();
            QVERIFY(shot.pixelColor(crowd).rgb() != classColour.rgb());
        }
    }

    void cancelKeepsTheStoredMap()
    {
        const QString stored = m_project + "/runs/" + m_run + "/tsne.npy";
        const QByteArray before = [&] {
            QFile f(stored);
            return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
        }();
        QVERIFY(!before.isEmpty());
        ui::MainWindow w;
        ui::MapPanel* panel = openWithMap(w, m_project);
        QVERIFY(panel);
        QSignalSpy done(panel, &ui::MapPanel::computationFinished);
        QVERIFY(panel->compute(false));
        QVERIFY(panel->computing());
        QVERIFY(!panel->compute(false)); // one at a time
        panel->cancel();
        QVERIFY(done.wait(60000));
        QCOMPARE(done.first()[0].toBool(), true);
        QVERIFY2(panel->statusText().startsWith("Cancelled"), qPrintable(panel->statusText()));
        QFile f(stored);
        QVERIFY(f.open(QIODevice::ReadOnly));
        QCOMPARE(f.readAll(), before);
    }

    void damagedInputIsExplained()
    {
        QTemporaryDir tmp;
        const QString project = tmp.filePath("p");
        const std::string run = makeProjectWithRun(project, tmp.filePath("src"));
        // A stored map that does not match the stored embeddings.
        const auto rows = [&] {
            auto p = core::Project::open(project.toStdString());
            const auto set = core::computeEmbeddings(*p, run, 16);
            return set.imageIds.size();
        }();
        QCOMPARE(rows, size_t(kImages));
        const float three[6] = {0, 0, 1, 1, 2, 2};
        core::saveFloatNpy((project + "/runs/").toStdString() + run + "/tsne.npy", three, {3, 2});
        {
            ui::MainWindow w;
            ui::MapPanel* panel = openWithMap(w, project);
            QVERIFY(panel);
            QCOMPARE(panel->view()->pointCount(), 0);
            QVERIFY2(panel->statusText().contains("does not match"), qPrintable(panel->statusText()));
        }
        // A damaged checkpoint: the map says why, and nothing is stored.
        {
            auto p = core::Project::open(project.toStdString());
            core::writeFileAtomically(core::RunStore(*p).checkpointPath(run), "not a checkpoint");
            p->db().exec("DELETE FROM embeddings"); // so that the map must embed with it
        }
        ui::MainWindow w;
        ui::MapPanel* panel = openWithMap(w, project);
        QVERIFY(panel);
        // Suggestions need stored embeddings.
        QSignalSpy suggested(panel, &ui::MapPanel::suggestionsDone);
        QVERIFY(panel->suggestLabels());
        QVERIFY(suggested.wait(60000));
        QVERIFY2(panel->statusText().contains("no stored embeddings yet: press Compute Map first"), qPrintable(panel->statusText()));
        const auto result = computeAndWait(*panel, false);
        QCOMPARE(result.size(), 2);
        QVERIFY(!result[1].toString().isEmpty());
        QVERIFY2(panel->statusText().startsWith("The map could not be computed:"), qPrintable(panel->statusText()));
        QCOMPARE(panel->view()->pointCount(), 0);
    }

private:
    QTemporaryDir m_tmp;
    QString m_project;
    QString m_run;
};

QTEST_MAIN(TestEmbeddingMap)
#include "TestEmbeddingMap.moc"
