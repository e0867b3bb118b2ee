// The clinician's first hour, offscreen: import through the dialog, browse, label with keys and
// undo, splits without leakage, window/level, and a 100k-image grid that decodes only what shows.
#include "OnModal.h"
#include "UiTestSupport.h"

#include "browser/BrowserView.h"
#include "browser/CatalogueModel.h"
#include "browser/ThumbnailLoader.h"
#include "image/Window.h"
#include "importer/ImportDialog.h"
#include "io/ImageDecoder.h"
#include "labels/ClassPanel.h"
#include "labels/LabelTableBox.h"
#include "labels/LabelTableDialog.h"
#include "mainwindow/MainWindow.h"
#include "project/Importer.h"
#include "project/Project.h"
#include "project/ProjectSession.h"
#include "project/Splits.h"
#include "splits/SplitsDialog.h"
#include "util/Csv.h"
#include "viewer/ImageView.h"
#include "viewer/ViewerPanel.h"
#ifdef MEDSIAM_HAVE_DCMTK
#include "io/DicomWriter.h"
#endif

#include <QApplication>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QElapsedTimer>
#include <QFile>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QListWidget>
#include <QMessageBox>
#include <QMimeData>
#include <QTimer>
#include <QMouseEvent>
#include <QProcess>
#include <QPushButton>
#include <QScrollBar>
#include <QSpinBox>
#include <QSettings>
#include <QStatusBar>
#include <QTableView>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>
#include <QUndoStack>

#include <atomic>
#include <thread>

using namespace medsiam;

namespace {

// A project of `n` imported PNGs with classes normal (key 1) and pneumonia (key 2).
void makeLabeledProject(const QString& dir, const QString& src, int n)
{
    test::writeImageFolder(src, n);
    auto p = core::Project::create(dir.toStdString(), 32);
    core::ImportOptions o;
    o.sources = {src.toStdString()};
    core::importSources(*p, o);
    p->ensureClass("normal");
    p->ensureClass("pneumonia");
}

// Shows the window, waits until it has keyboard focus (for key and mouse tests) and opens the
// project in it.
bool showActiveWithProject(ui::MainWindow& w, const QString& project)
{
    w.show();
    w.activateWindow();
    return QTest::qWaitForWindowActive(&w) && w.openProject(project);
}

// Writes `images` PNGs to <tmp>/src, creates the project <tmp>/p (32 px cache) in the shown
// window and opens the import dialog on those PNGs; null when the project cannot be created.
ui::ImportDialog* importDialogOnNewFolder(ui::MainWindow& w, const QTemporaryDir& tmp, int images)
{
    test::writeImageFolder(tmp.filePath("src"), images);
    w.show();
    if (!w.createProject(tmp.filePath("p"), 32))
        return nullptr;
    return w.showImportDialog({tmp.filePath("src")});
}

// Accepts the next modal message box and keeps its text, for checking what the user was told.
struct MessageCatcher {
    QString text;
    MessageCatcher()
    {
        QTimer::singleShot(0, [this] {
            if (auto* box = qobject_cast<QMessageBox*>(QApplication::activeModalWidget())) {
                text = box->text();
                box->accept();
            }
        });
    }
};

void sendMouse(QWidget* w, QEvent::Type type, QPointF pos, Qt::MouseButton button, Qt::MouseButtons buttons)
{
    QMouseEvent e(type, pos, w->mapToGlobal(pos), button, buttons, Qt::NoModifier);
    QApplication::sendEvent(w, &e);
}

} // namespace

class TestDesktop : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase()
    {
        QApplication::setOrganizationName("medsiam-tests");
        QApplication::setApplicationName("test_desktop");
        QSettings().clear();
    }

    void importThroughTheDialogFillsTheGridAndListsSkippedFiles()
    {
        QTemporaryDir tmp;
        const QString src = tmp.filePath("src");
        test::writeImageFolder(src, 40);
        QFile notes(src + "/notes.txt");
        QVERIFY(notes.open(QIODevice::WriteOnly));
        notes.write("reading list\n");
        notes.close();
        QFile good(src + "/img00000.png"), broken(src + "/broken.png");
        QVERIFY(good.open(QIODevice::ReadOnly) && broken.open(QIODevice::WriteOnly));
        broken.write(good.read(40)); // a PNG cut short
        broken.close();

        ui::MainWindow w;
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QVERIFY(w.createProject(tmp.filePath("p"), 32));
        QCOMPARE(w.browser()->model()->rowCount(), 0);
        ui::ImportDialog* d = w.showImportDialog({src});
        QVERIFY(d);
        QVERIFY(d->resolutionBox()->isEnabled()); // the project is empty: its cache size may change
        d->resolutionBox()->setValue(48);
        QTest::mouseClick(d->importButton(), Qt::LeftButton);
        QVERIFY(d->running());
        QTRY_VERIFY_WITH_TIMEOUT(!d->running(), 60000);
        QTRY_COMPARE(w.browser()->model()->rowCount(), 40);
        QCOMPARE(w.session()->rows().size(), size_t(40));
        QCOMPARE(w.session()->cacheResolution(), 48);
        QCOMPARE(w.session()->project().summary().cacheResolution, 48);
        // Both bad files are listed, each with its reason, and the list exports as CSV.
        const QAbstractItemModel* issues = d->issuesTable()->model();
        QCOMPARE(issues->rowCount(), 2);
        QStringList files;
        for (int r = 0; r < 2; ++r) {
            files << issues->index(r, 0).data().toString().section('/', -1);
            QVERIFY(!issues->index(r, 1).data().toString().isEmpty());
        }
        files.sort();
        QCOMPARE(files, QStringList({"broken.png", "notes.txt"}));
        QVERIFY(d->exportIssues(tmp.filePath("issues.csv")));
        QCOMPARE(core::readCsv(tmp.filePath("issues.csv").toStdString()).rows.size(), size_t(2));
        // Thumbnails arrive from the cache for the images on screen.
        const QModelIndex first = w.browser()->model()->index(0);
        QTRY_COMPARE_WITH_TIMEOUT(first.data(ui::CatalogueModel::ThumbnailStateRole).toInt(), 1, 10000);
        QCOMPARE(first.data(Qt::DecorationRole).value<QImage>().width(), 96);
        // The recent-projects list remembers the project.
        QCOMPARE(w.recentProjects().value(0), QDir(tmp.filePath("p")).absolutePath());
        d->close();
    }

    void theImportDialogMapsALabelTableAndPreviewsItsKeys()
    {
        QTemporaryDir tmp;
        const QString src = tmp.filePath("src");
        test::writeImageFolder(src, 6);
        QFile csv(tmp.filePath("table.csv"));
        QVERIFY(csv.open(QIODevice::WriteOnly));
        csv.write("Filename,Diagnosis,Set\nimg00000.png,normal,train\nimg00001.png,effusion,test\nimg00099.png,normal,train\n");
        csv.close();
        ui::MainWindow w;
        w.show();
        QVERIFY(w.createProject(tmp.filePath("p"), 32));
        ui::ImportDialog* d = w.showImportDialog({src});
        d->labelTable()->pathEdit()->setText(tmp.filePath("table.csv"));
        // The columns are offered and the likely roles chosen by name.
        QCOMPARE(d->labelTable()->keyColumnBox()->count(), 3);
        QCOMPARE(d->labelTable()->keyColumnBox()->currentText(), QString("Filename"));
        QCOMPARE(d->labelTable()->labelColumnBox()->currentText(), QString("Diagnosis"));
        // The preview matches keys against the folder before anything is imported.
        QTableWidget* preview = d->labelTable()->previewTable();
        QCOMPARE(preview->rowCount(), 3);
        QCOMPARE(preview->item(0, 0)->text(), QString("img00099.png")); // unmatched first
        QCOMPARE(preview->item(0, 1)->text(), QString("no such image"));
        QCOMPARE(preview->item(1, 1)->text(), QString("matched"));
        QTest::mouseClick(d->importButton(), Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(!d->running(), 60000);
        QTRY_COMPARE(w.browser()->model()->rowCount(), 6);
        ui::ProjectSession& s = *w.session();
        QCOMPARE(s.classes().size(), size_t(2));
        QCOMPARE(s.unlabeledCount(), int64_t(4));
        QCOMPARE(s.rows()[1].split, std::string("test"));
        // The unmatched key is in the issues table with its reason.
        const QAbstractItemModel* issues = d->issuesTable()->model();
        QCOMPARE(issues->rowCount(), 1);
        QCOMPARE(issues->index(0, 0).data().toString(), QString("img00099.png"));
        d->close();
    }

    void cancellingAnImportKeepsWhatWasCommittedAndSaysSo()
    {
        QTemporaryDir tmp;
        ui::MainWindow w;
        ui::ImportDialog* d = importDialogOnNewFolder(w, tmp, 3000);
        QVERIFY(d);
        QTest::mouseClick(d->importButton(), Qt::LeftButton);
        QTest::mouseClick(d->cancelButton(), Qt::LeftButton); // at once: the scan has barely begun
        QVERIFY(!d->cancelButton()->isEnabled());
        QTRY_VERIFY_WITH_TIMEOUT(!d->running(), 60000);
        QVERIFY2(d->resultText().startsWith("Cancelled"), qPrintable(d->resultText()));
        // What the grid shows is what the project holds, and a second import completes the rest.
        auto p = core::Project::open(tmp.filePath("p").toStdString());
        const size_t committed = p->catalogue().size();
        QVERIFY(committed < 3000);
        QTRY_COMPARE(w.session()->rows().size(), committed);
        d->close();
        ui::ImportDialog* again = w.showImportDialog({tmp.filePath("src")});
        QTest::mouseClick(again->importButton(), Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(!again->running(), 60000);
        QTRY_COMPARE(w.browser()->model()->rowCount(), 3000);
        again->close();
    }

    void aLabelTableLabelsTheProjectAfterAPreview()
    {
        QTemporaryDir tmp;
        makeLabeledProject(tmp.filePath("p"), tmp.filePath("src"), 5);
        QFile csv(tmp.filePath("labels.csv"));
        QVERIFY(csv.open(QIODevice::WriteOnly));
        csv.write("image,finding\nimg00000.png,pneumonia\nimg00004.png,effusion\nimg00042.png,normal\n");
        csv.close();
        auto session = ui::ProjectSession::open(tmp.filePath("p"));
        session->labelImages({session->rows()[1].imageId}, session->classes()[0].id);
        QCOMPARE(session->undoStack()->count(), 1);
        ui::LabelTableDialog d(*session);
        d.table()->pathEdit()->setText(tmp.filePath("labels.csv"));
        QCOMPARE(d.table()->labelColumnBox()->currentText(), QString("finding"));
        QVERIFY2(d.table()->summaryLabel()->text().startsWith("2 of 3 rows match"), qPrintable(d.table()->summaryLabel()->text()));
        d.accept();
        QCOMPARE(d.result(), int(QDialog::Accepted));
        QVERIFY2(d.resultText().contains("2 images labeled") && d.resultText().contains("img00042.png"), qPrintable(d.resultText()));
        QCOMPARE(session->className(session->rows()[0].classId), QString("pneumonia"));
        QCOMPARE(session->className(session->rows()[4].classId), QString("effusion")); // a new class
        QCOMPARE(session->classes().size(), size_t(3));
        QCOMPARE(session->undoStack()->count(), 0); // the table is not undone key by key
        // A table without the chosen column is refused in words, and nothing changes.
        ui::LabelTableDialog bad(*session);
        bad.table()->pathEdit()->setText(tmp.filePath("labels.csv"));
        bad.table()->labelColumnBox()->setCurrentIndex(0); // "(none)": neither label nor split
        MessageCatcher shown;
        bad.accept();
        QVERIFY2(shown.text.contains("label column, a split column or both"), qPrintable(shown.text));
        QCOMPARE(bad.result(), int(QDialog::Rejected));
    }

    void aMissingColumnOrTableIsExplainedAndNothingStarts()
    {
        QTemporaryDir tmp;
        ui::MainWindow w;
        ui::ImportDialog* d = importDialogOnNewFolder(w, tmp, 2);
        QVERIFY(d);
        d->labelTable()->pathEdit()->setText(tmp.filePath("nowhere.csv"));
        MessageCatcher shown;
        QVERIFY(!d->startImport());
        QVERIFY2(shown.text.contains("nowhere.csv"), qPrintable(shown.text));
        QVERIFY(!d->running());
        QCOMPARE(w.session()->rows().size(), size_t(0));
        d->close();
    }

    void theClassEditorRenamesRecoloursAndSwapsKeys()
    {
        QTemporaryDir tmp;
        makeLabeledProject(tmp.filePath("p"), tmp.filePath("src"), 3);
        auto session = ui::ProjectSession::open(tmp.filePath("p"));
        ui::ClassSchemaDialog d(*session);
        QTableWidget* t = d.table();
        QCOMPARE(t->rowCount(), 2);
        t->item(0, 0)->setText("no finding");
        static_cast<QComboBox*>(t->cellWidget(0, 2))->setCurrentText("2");
        static_cast<QComboBox*>(t->cellWidget(1, 2))->setCurrentText("1");
        d.accept();
        QCOMPARE(d.result(), int(QDialog::Accepted));
        QCOMPARE(session->className(session->classes()[0].id), QString("no finding"));
        QCOMPARE(QString::fromStdString(session->classForShortcut("1")->name), QString("pneumonia"));
        // Two classes with one key are refused with a message, and nothing changes.
        ui::ClassSchemaDialog clash(*session);
        static_cast<QComboBox*>(clash.table()->cellWidget(0, 2))->setCurrentText("1");
        MessageCatcher shown;
        clash.accept();
        QVERIFY2(shown.text.contains("Key 1"), qPrintable(shown.text));
        QCOMPARE(QString::fromStdString(session->classForShortcut("1")->name), QString("pneumonia"));
    }

    void droppingAFolderOpensTheImportDialogWithIt()
    {
        QTemporaryDir tmp;
        test::writeImageFolder(tmp.filePath("src"), 2);
        ui::MainWindow w;
        w.show();
        QVERIFY(w.createProject(tmp.filePath("p"), 32));
        QMimeData mime;
        mime.setUrls({QUrl::fromLocalFile(tmp.filePath("src"))});
        QDragEnterEvent enter(QPoint(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
        QApplication::sendEvent(&w, &enter);
        QVERIFY(enter.isAccepted());
        QDropEvent drop(QPointF(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
        QApplication::sendEvent(&w, &drop);
        auto dialogs = w.findChildren<ui::ImportDialog*>();
        QCOMPARE(dialogs.size(), 1);
        QCOMPARE(dialogs.front()->findChild<QListWidget*>()->item(0)->text(), QDir(tmp.filePath("src")).absolutePath());
        // Switching projects takes the dialog along: it must not import into a closed project.
        QVERIFY(w.createProject(tmp.filePath("q"), 32));
        QCOMPARE(w.findChildren<ui::ImportDialog*>().size(), 0);
    }

    void aMovedSourceFileIsExplainedInTheViewer()
    {
        QTemporaryDir tmp;
        makeLabeledProject(tmp.filePath("p"), tmp.filePath("src"), 3);
        QVERIFY(QFile::remove(tmp.filePath("src/img00001.png")));
        ui::MainWindow w;
        w.show();
        QVERIFY(w.openProject(tmp.filePath("p")));
        QTRY_VERIFY(w.viewer()->view()->hasImage());
        w.browser()->showImage(w.session()->rows()[1].imageId);
        QTRY_VERIFY(!w.viewer()->loading());
        QVERIFY(!w.viewer()->view()->hasImage());
        QVERIFY(w.statusBar()->currentMessage().contains("is missing"));
        // The thumbnail still shows: it comes from the project's cache.
        QTRY_COMPARE(w.browser()->model()->index(1).data(ui::CatalogueModel::ThumbnailStateRole).toInt(), 1);
    }

    void theViewerShowsTheLastOfManyQuickRequests()
    {
        QTemporaryDir tmp;
        makeLabeledProject(tmp.filePath("p"), tmp.filePath("src"), 10);
        auto session = ui::ProjectSession::open(tmp.filePath("p"));
        ui::ViewerPanel viewer(*session);
        viewer.resize(400, 400);
        viewer.show();
        for (const auto& row : session->rows()) // as when an arrow key is held down
            viewer.showImage(row.imageId);
        QTRY_VERIFY(!viewer.loading() && viewer.view()->hasImage());
        // The first pixel of image i holds i (test::writeImageFolder), shown in the file's window.
        QCOMPARE(qGray(viewer.view()->renderedImage().pixel(0, 0)), 9);
    }

    /// A project another program is writing to opens read-only, after asking: browsing works,
    /// labeling and import do not; once that program is gone, File > Reopen for Editing brings
    /// the labels back.
    void aProjectInUseOpensReadOnly()
    {
        QTemporaryDir tmp;
        const QString project = tmp.filePath("p");
        makeLabeledProject(project, tmp.filePath("src"), 6);
        // Another program holds the project's lock (flock(1) stands in for it; it says no name).
        QFile::resize(project + "/project.lock", 0);
        QProcess holder;
        holder.start("flock", {"-o", "-x", project + "/project.lock", "sleep", "60"}); // -o: flock alone holds it
        QVERIFY(holder.waitForStarted());
        QTRY_VERIFY(core::Project::writer(project.toStdString()).has_value());
        ui::MainWindow w;
        w.show();
        w.activateWindow();
        QVERIFY(QTest::qWaitForWindowActive(&w));
        QString asked;
        test::onModal<QMessageBox>([&](QMessageBox* box) {
            asked = box->text();
            for (QAbstractButton* b : box->buttons())
                if (b->text() == "Open Read-Only")
                    b->click();
        });
        QVERIFY(w.openProject(project));
        QVERIFY2(asked.contains("is changing this project right now"), qPrintable(asked));
        QVERIFY(w.session()->readOnly());
        QVERIFY(w.windowTitle().contains("(read-only)"));
        QCOMPARE(int(w.session()->rows().size()), 6);
        // Key 1 labels nothing, and the import is refused with a reason.
        w.activateWindow();
        QVERIFY(QTest::qWaitForWindowActive(&w));
        QListView* list = w.browser()->listView();
        list->setFocus();
        QTest::keyClick(list, Qt::Key_1);
        QCOMPARE(w.session()->unlabeledCount(), int64_t(6));
        MessageCatcher refused;
        QVERIFY(!w.showImportDialog({tmp.filePath("src")}));
        QVERIFY2(refused.text.contains("read-only"), qPrintable(refused.text));
        // The other program ends: the project reopens for editing and labels again.
        holder.kill();
        QVERIFY(holder.waitForFinished());
        QAction* reopen = nullptr;
        for (QAction* a : w.findChildren<QAction*>())
            if (a->text() == "Reopen for &Editing")
                reopen = a;
        QVERIFY(reopen && reopen->isVisible());
        reopen->trigger();
        QVERIFY(!w.session()->readOnly());
        QVERIFY(!w.windowTitle().contains("(read-only)"));
        w.activateWindow(); // the message boxes took the focus
        QVERIFY(QTest::qWaitForWindowActive(&w));
        list = w.browser()->listView();
        list->setFocus();
        QTest::keyClick(list, Qt::Key_1);
        QCOMPARE(w.session()->unlabeledCount(), int64_t(5));
    }

    /// A project whose catalogue was emptied (a crash, a full disk) is not replaced by an empty
    /// one: the window offers the newest backup, and the images come back.
    void anEmptyCatalogueIsRestoredFromItsBackup()
    {
        QTemporaryDir tmp;
        const QString project = tmp.filePath("p");
        makeLabeledProject(project, tmp.filePath("src"), 4); // closing it leaves a backup
        QFile::resize(project + "/project.sqlite", 0);
        QFile::remove(project + "/project.sqlite-wal");
        ui::MainWindow w;
        w.show();
        QString asked;
        test::onModal<QMessageBox>([&](QMessageBox* box) {
            asked = box->text();
            for (QAbstractButton* b : box->buttons())
                if (b->text() == "Restore Backup")
                    b->click();
        });
        QVERIFY(w.openProject(project));
        QVERIFY2(asked.contains("is empty (0 bytes)") && asked.contains("Restore the backup of"), qPrintable(asked));
        QCOMPARE(int(w.session()->rows().size()), 4);
        QVERIFY(QFileInfo(project + "/project.sqlite").size() > 0);
    }

    void keysLabelUndoRestoresAndLabelsSurviveReopening()
    {
        QTemporaryDir tmp;
        makeLabeledProject(tmp.filePath("p"), tmp.filePath("src"), 10);
        ui::MainWindow w;
        QVERIFY(showActiveWithProject(w, tmp.filePath("p")));
        ui::ProjectSession& s = *w.session();
        QListView* list = w.browser()->listView();
        list->setFocus();
        QCOMPARE(w.browser()->currentImageId(), s.rows()[0].imageId);
        const int64_t normal = s.classes()[0].id, pneumonia = s.classes()[1].id;
        QCOMPARE(QString::fromStdString(s.classes()[0].shortcut), QString("1"));

        // 1, 2, 1 label the first three images (the current image advances after each key).
        QTest::keyClick(list, Qt::Key_1);
        QTest::keyClick(list, Qt::Key_2);
        QTest::keyClick(list, Qt::Key_1);
        QCOMPARE(s.labeledCount(normal), int64_t(2));
        QCOMPARE(s.labeledCount(pneumonia), int64_t(1));
        QCOMPARE(w.browser()->currentImageId(), s.rows()[3].imageId);
        QCOMPARE(w.classPanel()->table()->item(0, 2)->text(), QString("2")); // live count
        // Reloading the project (F5) keeps the current image.
        QTest::keyClick(list, Qt::Key_F5);
        QCOMPARE(w.browser()->currentImageId(), s.rows()[3].imageId);
        QCOMPARE(w.browser()->selectedImageIds(), QVector<qint64>({s.rows()[3].imageId}));
        // Undo takes the third label back.
        QTest::keyClick(list, Qt::Key_Z, Qt::ControlModifier);
        QCOMPARE(s.labeledCount(normal), int64_t(1));
        QCOMPARE(w.classPanel()->table()->item(0, 2)->text(), QString("1"));
        QCOMPARE(s.unlabeledCount(), int64_t(8));

        w.closeProject();
        auto p = core::Project::open(tmp.filePath("p").toStdString());
        const auto rows = p->catalogue();
        int labeled = 0;
        for (const auto& r : rows)
            labeled += r.classId > 0;
        QCOMPARE(labeled, 2);
        QCOMPARE(rows[0].classId, normal);
        QCOMPARE(rows[1].classId, pneumonia);
        QCOMPARE(rows[2].classId, int64_t(-1));
        // And the reopened window shows them.
        QVERIFY(w.openProject(tmp.filePath("p")));
        QCOMPARE(w.session()->labeledCount(normal), int64_t(1));
        QCOMPARE(w.browser()->model()->index(1).data(ui::CatalogueModel::ClassNameRole).toString(), QString("pneumonia"));
    }

    void shiftClickSelectsARangeThatOneKeyLabelsAndBackspaceClears()
    {
        QTemporaryDir tmp;
        makeLabeledProject(tmp.filePath("p"), tmp.filePath("src"), 12);
        ui::MainWindow w;
        QVERIFY(showActiveWithProject(w, tmp.filePath("p")));
        ui::ProjectSession& s = *w.session();
        QListView* list = w.browser()->listView();
        auto centre = [&](int row) { return list->visualRect(w.browser()->model()->index(row)).center(); };
        QTest::mouseClick(list->viewport(), Qt::LeftButton, Qt::NoModifier, centre(3));
        QTest::mouseClick(list->viewport(), Qt::LeftButton, Qt::ShiftModifier, centre(5));
        QTest::mouseClick(list->viewport(), Qt::LeftButton, Qt::ControlModifier, centre(8));
        QCOMPARE(w.browser()->selectedImageIds().size(), 4);
        QTest::keyClick(list, Qt::Key_2);
        const int64_t pneumonia = s.classes()[1].id;
        QCOMPARE(s.labeledCount(pneumonia), int64_t(4));
        for (int r : {3, 4, 5, 8})
            QCOMPARE(s.rows()[r].classId, pneumonia);
        QCOMPARE(w.browser()->selectedImageIds().size(), 4); // a multi-selection does not advance
        QTest::keyClick(list, Qt::Key_Backspace);
        QCOMPARE(s.labeledCount(pneumonia), int64_t(0));
        QTest::keyClick(list, Qt::Key_Z, Qt::ControlModifier);
        QCOMPARE(s.labeledCount(pneumonia), int64_t(4));
        QTest::keyClick(list, Qt::Key_Z, Qt::ControlModifier | Qt::ShiftModifier); // redo the clear
        QCOMPARE(s.labeledCount(pneumonia), int64_t(0));
        // A drag across cells selects them all (rubber band).
        QTest::mousePress(list->viewport(), Qt::LeftButton, Qt::NoModifier, centre(0));
        QMouseEvent move(QEvent::MouseMove, centre(2), list->viewport()->mapToGlobal(centre(2)), Qt::NoButton, Qt::LeftButton, Qt::NoModifier);
        QApplication::sendEvent(list->viewport(), &move);
        QTest::mouseRelease(list->viewport(), Qt::LeftButton, Qt::NoModifier, centre(2));
        QCOMPARE(w.browser()->selectedImageIds(), QVector<qint64>({s.rows()[0].imageId, s.rows()[1].imageId, s.rows()[2].imageId}));
        // A key with no class explains itself instead of doing nothing silently.
        QTest::keyClick(list, Qt::Key_7);
        QVERIFY(w.statusBar()->currentMessage().contains("No class has key 7"));
        // Filtering to a class shows exactly its images.
        QTest::keyClick(list, Qt::Key_1);
        ui::BrowserFilter f;
        f.classId = s.classes()[0].id;
        w.browser()->model()->setFilter(f);
        QCOMPARE(w.browser()->model()->rowCount(), 3); // the three dragged over
        f.classId = ui::BrowserFilter::kUnlabeled;
        w.browser()->model()->setFilter(f);
        QCOMPARE(w.browser()->model()->rowCount(), 9);
    }

    void scrollingOneHundredThousandImagesDecodesOnlyWhatIsShown()
    {
        QTemporaryDir tmp;
        const int n = 100000;
        test::writeSyntheticCatalogue(tmp.filePath("p"), n);
        QElapsedTimer opening;
        opening.start();
        auto session = ui::ProjectSession::open(tmp.filePath("p"));
        qInfo("100k catalogue read in %lld ms", opening.elapsed());
        std::atomic<int> calls{0};
        ui::ThumbnailLoader loader(
            [&calls](int64_t, int size) {
                ++calls;
                std::this_thread::sleep_for(std::chrono::microseconds(300)); // a cache read and a resize
                QImage img(size, size, QImage::Format_Grayscale8);
                img.fill(128);
                return img;
            },
            64, 1000);
        opening.restart();
        ui::BrowserView view(*session, nullptr, &loader);
        qInfo("100k browser built in %lld ms", opening.elapsed());
        view.resize(900, 700);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        QCOMPARE(view.model()->rowCount(), n);
        QListView* list = view.listView();
        const QSize cell = list->visualRect(view.model()->index(0)).size();
        const int columns = list->viewport()->width() / cell.width();
        const int screenRows = list->viewport()->height() / cell.height() + 2;
        // One request: the visible rows, the prefetch rows below and one row above.
        const int perScreen = (screenRows + view.prefetchRows() + 1) * columns;
        QTRY_VERIFY(!loader.busy() && calls.load() > 0);
        QVERIFY2(calls.load() <= perScreen, qPrintable(QString("%1 > %2").arg(calls.load()).arg(perScreen)));

        QScrollBar* bar = list->verticalScrollBar();
        const int steps = 60;
        for (int k = 1; k <= steps; ++k) {
            bar->setValue(int(int64_t(bar->maximum()) * k / steps));
            QTest::qWait(2);
        }
        QTRY_VERIFY(!loader.busy());
        QTest::qWait(20);
        const int total = calls.load();
        qInfo("100k grid: %d thumbnails made over %d jumps (%d per screen, %d columns)", total, steps, perScreen, columns);
        QVERIFY2(total <= (steps + 1) * perScreen, qPrintable(QString::number(total)));
        QVERIFY(total < n / 20); // nothing near the rows scrolled past
        QVERIFY(loader.cachedCount() <= loader.capacity());
        // Everything on the last screen has its thumbnail.
        const QModelIndex last = view.model()->index(n - 1);
        QCOMPARE(last.data(ui::CatalogueModel::ThumbnailStateRole).toInt(), 1);
    }

    void patientGroupedSplitsNeverLeakAndPerImageOnesAreFlagged()
    {
        QTemporaryDir tmp;
        test::writeSyntheticCatalogue(tmp.filePath("p"), 60, 5); // 12 patients, 5 images each
        {
            auto p = core::Project::open(tmp.filePath("p").toStdString());
            const int64_t a = p->ensureClass("benign"), b = p->ensureClass("malignant");
            std::vector<std::pair<int64_t, int64_t>> labels;
            for (const auto& r : p->catalogue())
                labels.emplace_back(r.imageId, (r.imageId / 5) % 2 ? a : b);
            p->setLabels(labels, "csv");
        }
        auto session = ui::ProjectSession::open(tmp.filePath("p"));
        ui::SplitsDialog d(*session);
        // Fractions that do not add up are explained, and nothing can be applied.
        d.fractionBox(0)->setValue(0.9);
        QVERIFY(!d.plan());
        QVERIFY2(d.leakageLabel()->text().contains("add up to 1"), qPrintable(d.leakageLabel()->text()));
        d.fractionBox(0)->setValue(0.7);
        d.modeBox()->setCurrentIndex(d.modeBox()->findData(int(core::SplitMode::Random)));
        QVERIFY(d.plan());
        QVERIFY2(d.leakageLabel()->text().startsWith("Warning"), qPrintable(d.leakageLabel()->text()));
        d.modeBox()->setCurrentIndex(d.modeBox()->findData(int(core::SplitMode::Patient)));
        QVERIFY(d.plan());
        QVERIFY2(d.leakageLabel()->text().contains("no patient has images in two splits"), qPrintable(d.leakageLabel()->text()));
        d.accept();
        QCOMPARE(d.result(), int(QDialog::Accepted));
        auto p = core::Project::open(tmp.filePath("p").toStdString());
        const auto items = p->trainingItems();
        QVERIFY(core::checkLeakage(items).leakingPatients.empty());
        QCOMPARE(core::checkLeakage(items).patientsChecked, int64_t(12));
        std::map<std::string, int> perSplit;
        for (const auto& i : items)
            ++perSplit[i.split];
        QCOMPARE(perSplit.count(""), size_t(0));
        QVERIFY(perSplit["train"] > 0 && perSplit["val"] > 0 && perSplit["test"] > 0);
        // Reopening the dialog checks what is stored.
        ui::SplitsDialog again(*session);
        QVERIFY(again.leakageLabel()->text().startsWith("The current splits: no patient"));
    }

    void windowLevelChangesTheRenderedPixels()
    {
        ui::ImageView view;
        view.resize(400, 300);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        core::DecodedFrame f;
        f.values = {-1000, -550, 140, 1000};
        f.windowCentre = 40;
        f.windowWidth = 400;
        f.image = core::applyWindow(f.values, 4, 1, {40, 400}, false);
        view.setFrame(f);
        auto grey = [&](int x) { return qGray(view.renderedImage().pixel(x, 0)); };
        QCOMPARE(grey(1), 0); // -550 HU is black in the file's soft-tissue window
        QCOMPARE(grey(2), 191); // (140 + 160) * 255 / 400
        view.setWindow(core::ctWindowPresets()[0].window); // lung
        QCOMPARE(grey(1), 136); // (-550 + 1350) * 255 / 1500
        QCOMPARE(grey(3), 255);
        // Right-drag 128 px to the right and 64 px down: the range is 2000 HU, so the width
        // grows by 500 and the level by 250.
        QWidget* w = &view;
        sendMouse(w, QEvent::MouseButtonPress, {200, 150}, Qt::RightButton, Qt::RightButton);
        sendMouse(w, QEvent::MouseMove, {328, 214}, Qt::NoButton, Qt::RightButton);
        sendMouse(w, QEvent::MouseButtonRelease, {328, 214}, Qt::RightButton, Qt::NoButton);
        QCOMPARE(view.window().width, 2000.0);
        QCOMPARE(view.window().centre, -350.0);
        const core::Image8 expected = core::applyWindow(f.values, 4, 1, {-350, 2000}, false);
        for (int x = 0; x < 4; ++x)
            QCOMPARE(grey(x), int(expected.pixels[x]));
        QCOMPARE(grey(1), 102); // (-550 + 1350) * 255 / 2000
        view.resetWindow();
        QCOMPARE(grey(1), 0);
    }

#ifdef MEDSIAM_HAVE_DCMTK
    void theViewerShowsADicomFromItsSourceWithTagsAndPresets()
    {
        QTemporaryDir tmp;
        QDir().mkpath(tmp.filePath("src"));
        test::DicomSpec s;
        s.rows = 64;
        s.columns = 64;
        s.frames = 3;
        s.bitsAllocated = 16;
        s.rescale = true;
        s.intercept = -1024;
        s.windowCentre = 40;
        s.windowWidth = 400;
        s.modality = "CT";
        for (int f = 0; f < 3; ++f)
            for (int i = 0; i < 64 * 64; ++i)
                s.pixels16.push_back(f * 300 + (i % 64) * 30); // stored 0..2190 + frame offset
        test::writeDicom(tmp.filePath("src/ct.dcm").toStdString(), s);
        auto p = core::Project::create(tmp.filePath("p").toStdString(), 32);
        core::ImportOptions o;
        o.sources = {tmp.filePath("src").toStdString()};
        core::importSources(*p, o);
        p.reset();

        ui::MainWindow w;
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QVERIFY(w.openProject(tmp.filePath("p")));
        ui::ImageView* view = w.viewer()->view();
        QTRY_VERIFY_WITH_TIMEOUT(view->hasImage(), 10000);
        // Full resolution from the source (the cache is 32 px), in the file's window.
        QCOMPARE(view->renderedImage().width(), 64);
        QCOMPARE(view->window().centre, 40.0);
        // Column 40 of frame 0: stored 1200, 176 HU, in W400/L40: (176 + 160) * 255 / 400.
        QCOMPARE(qGray(view->renderedImage().pixel(40, 0)), 214);
        QTRY_VERIFY_WITH_TIMEOUT(w.tags()->table()->rowCount() > 10, 10000);
        bool patient = false;
        for (int r = 0; r < w.tags()->table()->rowCount(); ++r)
            patient |= w.tags()->table()->item(r, 0)->text() == "(0010,0020)" && w.tags()->table()->item(r, 2)->text() == "PAT001";
        QVERIFY(patient);
        // The bone preset: L 400 W 1800 -> 176 HU is (176 + 500) * 255 / 1800.
        auto* presets = w.viewer()->findChild<QComboBox*>();
        Q_EMIT presets->activated(2);
        QCOMPARE(qGray(view->renderedImage().pixel(40, 0)), 96);
        // The frame slider steps through the file's frames, keeping the window.
        QVERIFY(w.viewer()->frameSlider()->isEnabled());
        QCOMPARE(w.viewer()->frameSlider()->maximum(), 2);
        w.viewer()->frameSlider()->setValue(2); // +600 stored: 776 HU at column 40
        QTRY_COMPARE_WITH_TIMEOUT(qGray(view->renderedImage().pixel(40, 0)), 181, 10000); // (776 + 500) * 255 / 1800
    }
#endif
};

QTEST_MAIN(TestDesktop)
#include "TestDesktop.moc"
