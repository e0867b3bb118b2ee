// What a clinician's first unaided session stumbled on, each as the user would notice it: a label
// table's preview that matches as the import will, class keys that follow one-digit class names,
// run states and messages while training, dialogs that remember, a pixel readout that follows the
// image, an import issues table that keeps its Reason column on screen (and a sentence for an
// empty folder), and runs that can be named, annotated and deleted.
#include "OnModal.h"
#include "UiTestSupport.h"

#include "browser/BrowserView.h"
#include "importer/ImportDialog.h"
#include "labels/LabelTableBox.h"
#include "mainwindow/MainWindow.h"
#include "project/Importer.h"
#include "project/Project.h"
#include "project/ProjectSession.h"
#include "project/RunStore.h"
#include "system/Runtime.h"
#include "train/PretrainJob.h"
#include "training/NewRunDialog.h"
#include "training/RunNotesDialog.h"
#include "training/TrainingPanel.h"
#include "viewer/ImageView.h"
#include "viewer/ViewerPanel.h"
#ifdef MEDSIAM_HAVE_DCMTK
#include "io/DicomWriter.h"
#endif

#include <QApplication>
#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFile>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QMenuBar>
#include <QMessageBox>
#include <QMouseEvent>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTableView>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>

using namespace medsiam;
using test::onModal;

namespace {

/// The Label menu's entries that label, by their text, with their keys.
QStringList labelEntries(ui::MainWindow& w)
{
    QStringList out;
    for (QAction* menu : w.menuBar()->actions())
        if (menu->text() == "&Label")
            for (QAction* a : menu->menu()->actions())
                if (a->text().startsWith("Label as"))
                    out << a->text() + " [" + a->shortcut().toString() + "]";
    return out;
}

void moveMouse(QWidget* w, QPointF pos)
{
    QMouseEvent e(QEvent::MouseMove, pos, w->mapToGlobal(pos), Qt::NoButton, Qt::NoButton, Qt::NoModifier);
    QApplication::sendEvent(w, &e);
}

// A small, quick run: `steps` steps of batch 8 at 16 px.
void smallRun(ui::NewRunDialog* d, int steps)
{
    d->length()->setCurrentIndex(d->length()->findData(QStringLiteral("steps")));
    d->steps()->setValue(steps);
    d->batch()->setValue(8);
    d->inputSize()->setValue(16);
}

} // namespace

class TestFirstSession : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase()
    {
        QApplication::setOrganizationName("medsiam-tests");
        QApplication::setApplicationName("test_first_session");
        QSettings().clear();
        core::configureThreads(2);
    }

    /// 1. A table keyed by SOPInstanceUID, previewed before the DICOM files are imported, says
    /// what the import then does: every row matches.
    void theLabelTablePreviewMatchesAsTheImportWill()
    {
#ifndef MEDSIAM_HAVE_DCMTK
        QSKIP("this build reads no DICOM");
#else
        QTemporaryDir tmp;
        QString table = "sop_uid,diagnosis\n";
        for (int i = 0; i < 6; ++i) {
            test::DicomSpec s;
            s.sopUid = "1.2.826.0.1.3680043.8.498." + std::to_string(1000 + i);
            s.patientId = "P" + std::to_string(i / 2);
            s.pixels8.assign(64, static_cast<uint8_t>(10 * i));
            QDir().mkpath(tmp.filePath(QString("src/study%1").arg(i / 2)));
            test::writeDicom(tmp.filePath(QString("src/study%1/IM%2").arg(i / 2).arg(i)).toStdString(), s);
            table += QString::fromStdString(s.sopUid) + (i % 2 ? ",benign\n" : ",malignant\n");
        }
        QFile csv(tmp.filePath("labels.csv"));
        QVERIFY(csv.open(QIODevice::WriteOnly));
        csv.write(table.toUtf8());
        csv.close();
        ui::MainWindow w;
        w.show();
        QVERIFY(w.createProject(tmp.filePath("p"), 32));
        ui::ImportDialog* d = w.showImportDialog({tmp.filePath("src")});
        d->labelTable()->pathEdit()->setText(tmp.filePath("labels.csv"));
        const QString summary = d->labelTable()->summaryLabel()->text();
        QVERIFY2(summary.startsWith("6 of 6 rows match (keys read as DICOM SOPInstanceUID)"), qPrintable(summary));
        QTableWidget* preview = d->labelTable()->previewTable();
        QCOMPARE(preview->rowCount(), 6);
        for (int r = 0; r < 6; ++r)
            QCOMPARE(preview->item(r, 1)->text(), QString("matched"));
        // The import does what the preview said.
        QTest::mouseClick(d->importButton(), Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(!d->running(), 60000);
        QVERIFY2(d->resultText().contains("6 of 6 rows matched, 6 images labeled"), qPrintable(d->resultText()));
        QCOMPARE(w.session()->unlabeledCount(), int64_t(0));
        d->close();
#endif
    }

    /// 2. Classes named "0" and "1" get keys 0 and 1, and the Label menu names each class.
    void classKeysFollowOneDigitClassNames()
    {
        QTemporaryDir tmp;
        {
            auto p = test::makeImportedProject(tmp.filePath("p"), tmp.filePath("src"), 4, false);
            p->removeClass(p->ensureClass("normal"));
            p->ensureClass("0"); // as an .npz archive's labels or a label table make them
            p->ensureClass("1");
        }
        ui::MainWindow w;
        w.show();
        w.activateWindow();
        QVERIFY(QTest::qWaitForWindowActive(&w));
        QVERIFY(w.openProject(tmp.filePath("p")));
        ui::ProjectSession& s = *w.session();
        QCOMPARE(QString::fromStdString(s.classForShortcut("0")->name), QString("0"));
        QCOMPARE(QString::fromStdString(s.classForShortcut("1")->name), QString("1"));
        QCOMPARE(labelEntries(w), QStringList({"Label as \u201c0\u201d [0]", "Label as \u201c1\u201d [1]"}));
        // Key 1 labels class "1", key 0 class "0".
        QListView* list = w.browser()->listView();
        list->setFocus();
        w.browser()->showImage(s.rows()[0].imageId);
        QTest::keyClick(list, Qt::Key_1);
        QCOMPARE(s.className(s.rows()[0].classId), QString("1"));
        w.browser()->showImage(s.rows()[1].imageId);
        QTest::keyClick(list, Qt::Key_0);
        QCOMPARE(s.className(s.rows()[1].classId), QString("0"));
        // A new class takes the first free key; the menu follows.
        s.addClass("effusion");
        QCOMPARE(QString::fromStdString(s.classForShortcut("2")->name), QString("effusion"));
        QVERIFY(labelEntries(w).contains("Label as \u201ceffusion\u201d [2]"));
        // Named classes keep 1, 2, ... as before.
        QTemporaryDir tmp2;
        test::makeImportedProject(tmp2.filePath("p"), tmp2.filePath("src"), 2, true);
        QVERIFY(w.openProject(tmp2.filePath("p")));
        QCOMPARE(labelEntries(w), QStringList({"Label as \u201cnormal\u201d [1]", "Label as \u201cpneumonia\u201d [2]"}));
    }

    /// 3. While training the run list says "running" (never "queued"), a paused run "paused";
    /// the stop message says it once; after Continue the curve keeps the steps before it.
    void runStatesAndMessagesSayWhatHappens()
    {
        QTemporaryDir tmp;
        {
            auto p = test::makeImportedProject(tmp.filePath("p"), tmp.filePath("src"), 40, true);
            test::labelAlternately(*p, 20);
        }
        ui::MainWindow w;
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QVERIFY(w.openProject(tmp.filePath("p")));
        w.showTraining();
        ui::TrainingPanel* panel = w.trainingPanel();
        QSignalSpy finished(panel, &ui::TrainingPanel::runFinished);
        onModal<ui::NewRunDialog>([](ui::NewRunDialog* d) {
            smallRun(d, 3000);
            d->accept();
        });
        QVERIFY(panel->newRun(ui::TrainingJob::Kind::Pretrain));
        QVERIFY2(!panel->runChooser()->currentText().contains("queued"), qPrintable(panel->runChooser()->currentText()));
        QTRY_VERIFY_WITH_TIMEOUT(panel->curvePoints("loss") >= 2, 60000);
        QVERIFY2(panel->runChooser()->currentText().contains("running"), qPrintable(panel->runChooser()->currentText()));
        panel->refreshRuns(); // as another panel's change does: the label stays true
        QVERIFY2(panel->runChooser()->currentText().contains("running"), qPrintable(panel->runChooser()->currentText()));
        panel->setPaused(true);
        QVERIFY2(panel->runChooser()->currentText().contains("paused"), qPrintable(panel->runChooser()->currentText()));
        panel->refreshRuns();
        QVERIFY2(panel->runChooser()->currentText().contains("paused"), qPrintable(panel->runChooser()->currentText()));
        panel->setPaused(false);
        QVERIFY(panel->runChooser()->currentText().contains("running"));
        panel->cancel();
        QVERIFY(finished.wait(60000));
        const QString run = finished.first()[0].toString();
        const int reached = panel->curvePoints("loss");
        const QString stopped = panel->statusText();
        QVERIFY2(stopped.startsWith(QString("Run %1 stopped after step %2, with its checkpoint. Press Continue").arg(run).arg(reached)),
                 qPrintable(stopped));
        QCOMPARE(stopped.count("stopped"), 1);
        QVERIFY2(panel->runChooser()->currentText().contains("cancelled"), qPrintable(panel->runChooser()->currentText()));
        // Continue: while it trains, the curve holds the steps before the stop and the new ones.
        QVERIFY(panel->startRun(run, ui::TrainingJob::Kind::Pretrain));
        QCOMPARE(panel->curvePoints("loss"), reached);
        QTRY_VERIFY_WITH_TIMEOUT(panel->curvePoints("loss") >= reached + 3, 60000);
        QVERIFY(panel->training());
        panel->cancel();
        QVERIFY(finished.wait(60000));
    }

    /// 4. The new-run dialog starts from the values used last time; a classifier from the
    /// project's newest completed SimSiam run.
    void dialogsStartFromTheLastValuesAndTheBestStart()
    {
        QTemporaryDir tmp;
        std::string simsiam;
        {
            auto p = test::makeImportedProject(tmp.filePath("p"), tmp.filePath("src"), 40, true);
            test::labelAlternately(*p, 40);
            test::assignSplits(*p, [](int i) { return i < 30 ? "train" : "val"; });
            simsiam = core::PretrainJob::create(*p, test::tinyPretrain(2, 8, 16), false);
            core::JobObserver quiet;
            core::JobControl control;
            QCOMPARE(core::PretrainJob(*p, simsiam).run(quiet, control), core::JobState::Completed);
        }
        QSettings().remove("newRunDialog");
        auto session = ui::ProjectSession::open(tmp.filePath("p"));
        {
            ui::NewRunDialog first(*session, ui::NewRunDialog::Kind::Finetune);
            QCOMPARE(first.init()->currentData().toString(), QString("run:") + QString::fromStdString(simsiam));
            QCOMPARE(first.batch()->value(), core::FinetuneConfig().batch); // core's default the first time
            smallRun(&first, 7);
            first.batch()->setValue(16);
            first.learningRate()->setValue(0.0005);
            first.init()->setCurrentIndex(0); // random initialization, this once
            first.accept();
            QCOMPARE(first.result(), int(QDialog::Accepted));
        }
        ui::NewRunDialog again(*session, ui::NewRunDialog::Kind::Finetune);
        QCOMPARE(again.batch()->value(), 16);
        QCOMPARE(again.steps()->value(), 7);
        QCOMPARE(again.length()->currentData().toString(), QString("steps"));
        QCOMPARE(again.learningRate()->value(), 0.0005);
        QCOMPARE(again.inputSize()->value(), 16);
        QCOMPARE(again.init()->currentData().toString(), QString("run:") + QString::fromStdString(simsiam));
        // The pretraining dialog keeps its own values.
        ui::NewRunDialog pre(*session, ui::NewRunDialog::Kind::Pretrain);
        QCOMPARE(pre.batch()->value(), core::PretrainConfig().batch);
        // Restore Defaults brings core's back.
        for (QPushButton* b : again.findChildren<QPushButton*>())
            if (b->text() == "Restore Defaults")
                b->click();
        QCOMPARE(again.batch()->value(), core::FinetuneConfig().batch);
        QCOMPARE(again.length()->currentData().toString(), QString("budget"));
    }

    /// 5. The pixel readout shows the image under the cursor, never the one before.
    void thePixelReadoutFollowsTheImage()
    {
        QTemporaryDir tmp;
        test::writeImageFolder(tmp.filePath("src"), 2, 16);
        {
            auto p = core::Project::create(tmp.filePath("p").toStdString(), 32);
            core::ImportOptions o;
            o.sources = {tmp.filePath("src").toStdString()};
            core::importSources(*p, o);
        }
        auto session = ui::ProjectSession::open(tmp.filePath("p"));
        ui::ViewerPanel viewer(*session);
        viewer.resize(320, 360);
        viewer.show();
        QVERIFY(QTest::qWaitForWindowExposed(&viewer));
        viewer.showImage(session->rows()[0].imageId);
        QTRY_VERIFY(!viewer.loading() && viewer.view()->hasImage());
        ui::ImageView* view = viewer.view();
        // A few pixels right of and below the centre: well inside pixel (8, 8) at any zoom.
        const QPointF centre(view->width() / 2.0 + 2, view->height() / 2.0 + 2);
        moveMouse(view, centre);
        // Pixel (8, 8) of image i holds (37 i + 5 x + y) & 255 (test::writeImageFolder).
        QCOMPARE(viewer.readout()->text(), QString("x 8  y 8  value 48"));
        viewer.showImage(session->rows()[1].imageId);
        QVERIFY(viewer.readout()->text().isEmpty() || viewer.readout()->text().endsWith("value 85"));
        QTRY_VERIFY(!viewer.loading() && viewer.view()->hasImage());
        QCOMPARE(viewer.readout()->text(), QString("x 8  y 8  value 85")); // the cursor did not move
        viewer.showImage(-1);
        QCOMPARE(viewer.readout()->text(), QString());
        // Off the image, nothing is read out.
        viewer.showImage(session->rows()[0].imageId);
        QTRY_VERIFY(!viewer.loading() && viewer.view()->hasImage());
        moveMouse(view, QPointF(1, 1));
        QCOMPARE(viewer.readout()->text(), QString());
    }

    /// 6. Long paths leave the Reason column on screen and the window its size; an empty folder
    /// says that nothing was found.
    void importIssuesKeepTheirReasonsOnScreen()
    {
        QTemporaryDir tmp;
        const QString deep = tmp.filePath("src/" + QString("a_very_long_folder_name_of_a_hospital_export_").repeated(4));
        QVERIFY(QDir().mkpath(deep));
        test::writeImageFolder(deep, 2);
        for (int i = 0; i < 3; ++i) {
            QFile broken(deep + QString("/series_%1_of_a_study_whose_file_names_are_long_too.png").arg(i));
            QVERIFY(broken.open(QIODevice::WriteOnly));
            broken.write("\x89PNG\r\n\x1a\n cut short");
        }
        ui::MainWindow w;
        w.show();
        QVERIFY(w.createProject(tmp.filePath("p"), 32));
        ui::ImportDialog* d = w.showImportDialog({tmp.filePath("src")});
        QVERIFY(QTest::qWaitForWindowExposed(d));
        const int width = d->width();
        QTest::mouseClick(d->importButton(), Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(!d->running(), 60000);
        QApplication::processEvents();
        QTableView* issues = d->issuesTable();
        QCOMPARE(issues->model()->rowCount(), 3);
        QVERIFY2(d->width() <= width, qPrintable(QString("the dialog grew from %1 to %2 px").arg(width).arg(d->width())));
        const int reasonAt = issues->horizontalHeader()->sectionViewportPosition(1);
        QVERIFY2(reasonAt >= 0 && reasonAt + 60 < issues->viewport()->width(),
                 qPrintable(QString("Reason starts at %1 of %2 px").arg(reasonAt).arg(issues->viewport()->width())));
        // The whole path is in the tooltip; each reason is shown whole, wrapped in its row.
        QVERIFY(issues->model()->index(0, 0).data(Qt::ToolTipRole).toString().startsWith(tmp.filePath("src")));
        for (int row = 0; row < 3; ++row) {
            const QString reason = issues->model()->index(row, 1).data().toString();
            const QRect needs = issues->fontMetrics().boundingRect(QRect(0, 0, issues->columnWidth(1) - 8, 10000), Qt::TextWordWrap, reason);
            QVERIFY2(issues->rowHeight(row) >= needs.height(),
                     qPrintable(QString("'%1' needs %2 px, its row has %3").arg(reason).arg(needs.height()).arg(issues->rowHeight(row))));
        }
        d->close();
        // An empty folder: a sentence, not "0 of 0".
        QVERIFY(QDir().mkpath(tmp.filePath("empty")));
        ui::ImportDialog* e = w.showImportDialog({tmp.filePath("empty")});
        QTest::mouseClick(e->importButton(), Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(!e->running(), 60000);
        QVERIFY2(e->resultText().startsWith("Nothing was imported: no files were found in"), qPrintable(e->resultText()));
        QVERIFY(e->resultText().contains(QDir::toNativeSeparators(QDir(tmp.filePath("empty")).absolutePath())));
        e->close();
    }

    /// 7. A run can be named and annotated (kept on reopening, and beside its files), and deleted
    /// after a question, with its folder and stored predictions.
    void runsCanBeNamedAnnotatedAndDeleted()
    {
        QTemporaryDir tmp;
        std::string run;
        {
            auto p = test::makeImportedProject(tmp.filePath("p"), tmp.filePath("src"), 12, true);
            run = core::PretrainJob::create(*p, test::tinyPretrain(2, 8, 16), false);
            core::JobObserver quiet;
            core::JobControl control;
            QCOMPARE(core::PretrainJob(*p, run).run(quiet, control), core::JobState::Completed);
            p->storePredictions(run, {{p->catalogue()[0].imageId, "test", 0, {0.7f, 0.3f}}});
        }
        const QString id = QString::fromStdString(run);
        {
            ui::MainWindow w;
            w.show();
            QVERIFY(w.openProject(tmp.filePath("p")));
            w.showTraining();
            ui::TrainingPanel* panel = w.trainingPanel();
            QVERIFY(panel->selectRun(id));
            onModal<ui::RunNotesDialog>([&](ui::RunNotesDialog* d) {
                d->title()->setText("first try");
                d->notes()->setPlainText("GN backbone, 2 steps\nloss still falling");
                d->accept();
                QVERIFY(d->lastError().isEmpty());
            });
            QVERIFY(panel->describeRun(id));
            QVERIFY2(panel->runChooser()->currentText().startsWith("first try \u2014 " + id), qPrintable(panel->runChooser()->currentText()));
            QCOMPARE(panel->runChooser()->currentData(Qt::ToolTipRole).toString(), QString("GN backbone, 2 steps\nloss still falling"));
            // It opens with what is kept; Cancel changes nothing.
            onModal<ui::RunNotesDialog>([&](ui::RunNotesDialog* d) {
                QCOMPARE(d->title()->text(), QString("first try"));
                QCOMPARE(d->notes()->toPlainText(), QString("GN backbone, 2 steps\nloss still falling"));
                d->title()->setText("second thoughts");
                d->reject();
            });
            QVERIFY(!panel->describeRun(id));
            QVERIFY(panel->runChooser()->currentText().startsWith("first try"));
        }
        // Kept in the project, and in the run's folder.
        {
            auto p = core::Project::open(tmp.filePath("p").toStdString());
            QCOMPARE(QString::fromStdString(p->run(run)->title), QString("first try"));
            QVERIFY(QFile::exists(QString::fromStdString(core::RunStore(*p).notesPath(run))));
        }
        ui::MainWindow w;
        w.show();
        QVERIFY(w.openProject(tmp.filePath("p")));
        w.showTraining();
        ui::TrainingPanel* panel = w.trainingPanel();
        QVERIFY(panel->selectRun(id));
        QVERIFY(panel->runChooser()->currentText().startsWith("first try"));
        // Delete asks first; No keeps everything.
        onModal<QMessageBox>([](QMessageBox* box) { box->button(QMessageBox::No)->click(); });
        QVERIFY(!panel->deleteRun(id));
        QVERIFY(QDir(tmp.filePath("p/runs/" + id)).exists());
        QString asked;
        onModal<QMessageBox>([&](QMessageBox* box) {
            asked = box->text();
            box->button(QMessageBox::Yes)->click();
        });
        QVERIFY(panel->deleteRun(id));
        QVERIFY2(asked.contains("predictions"), qPrintable(asked));
        QVERIFY(!QDir(tmp.filePath("p/runs/" + id)).exists());
        QCOMPARE(panel->runChooser()->findData(id), -1);
        QVERIFY(w.session()->project().predictions(run).empty());
    }
};

QTEST_MAIN(TestFirstSession)
#include "TestFirstSession.moc"
