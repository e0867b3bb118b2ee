// File > Import from PACS against a real Orthanc started on loopback (tests/core/pacs/OrthancServer):
// nodes kept in the settings, Echo, search with counts, retrieve with the images appearing in the
// browser series by series, Cancel, C-MOVE, and the words for a wrong AE title and a bad date.
#include "browser/BrowserView.h"
#include "browser/CatalogueModel.h"
#include "io/DicomWriter.h"
#include "mainwindow/MainWindow.h"
#include "pacs/OrthancServer.h"
#include "pacs/PacsDialog.h"
#include "project/ProjectSession.h"

#include <QAbstractItemModel>
#include <QAction>
#include <QApplication>
#include <QComboBox>
#include <QDirIterator>
#include <QFile>
#include <QLineEdit>
#include <QMenuBar>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QTest>
#include <QTreeWidget>

#include <filesystem>

using namespace medsiam;

namespace {

QAction* menuAction(ui::MainWindow& w, const QString& text)
{
    for (QAction* a : w.menuBar()->findChildren<QAction*>())
        if (a->text() == text)
            return a;
    return nullptr;
}

/// Every file under `dir` (but the PACS's own copies in pacs/) that holds `needle`.
QStringList filesHolding(const QString& dir, const QByteArray& needle)
{
    QStringList out;
    QDirIterator it(dir, QDir::Files | QDir::Hidden, QDirIterator::Subdirectories);
    while (it.hasNext()) {
        const QString path = it.next();
        if (path.contains(QLatin1String("/pacs/")))
            continue;
        QFile f(path);
        if (f.open(QIODevice::ReadOnly) && f.readAll().contains(needle))
            out << path;
    }
    return out;
}

} // namespace

class TestPacsImport : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;
    test::OrthancServer m_orthanc{m_dir.filePath("orthanc")};
    const std::string m_studyA = "1.2.826.0.1.3680043.10.71";
    const std::string m_studyB = "1.2.826.0.1.3680043.10.72";

    void seedSeries(const std::string& patient, const std::string& study, const std::string& series, const std::string& modality,
                    const std::string& description, int count)
    {
        for (int i = 0; i < count; ++i) {
            test::DicomSpec s;
            s.rows = s.columns = 32;
            s.pixels8.resize(32 * 32);
            for (size_t p = 0; p < s.pixels8.size(); ++p)
                s.pixels8[p] = static_cast<uint8_t>((p * 5 + static_cast<size_t>(i) * 29 + series.size() * 11) & 0xff);
            s.patientId = patient;
            s.patientName = "Secret^Patient";
            s.studyUid = study;
            s.seriesUid = series;
            s.sopUid = series + "." + std::to_string(i + 1);
            s.modality = modality;
            s.studyDate = "20240131";
            s.studyDescription = "Chest " + patient;
            s.seriesDescription = description;
            s.instanceNumber = i + 1;
            const std::string path = m_dir.filePath(QString::fromStdString("seed/" + s.sopUid + ".dcm")).toStdString();
            std::filesystem::create_directories(std::filesystem::path(path).parent_path());
            test::writeDicom(path, s);
        }
    }

    /// A main window with a new project (<tmp>/<name>) and its Import from PACS dialog, opened
    /// from the File menu.
    ui::PacsDialog* openDialog(ui::MainWindow& w, const QString& name)
    {
        w.show();
        if (!w.createProject(m_dir.filePath(name), 32))
            return nullptr;
        QAction* a = menuAction(w, QStringLiteral("Import from &PACS..."));
        if (!a || !a->isEnabled())
            return nullptr;
        a->trigger();
        return w.findChild<ui::PacsDialog*>();
    }

private Q_SLOTS:
    void initTestCase()
    {
        QApplication::setOrganizationName("medsiam-tests");
        QApplication::setApplicationName("test_pacs_import");
        QSettings().clear();
        QVERIFY(m_dir.isValid());
        seedSeries("PAT-A", m_studyA, m_studyA + ".1", "CT", "Axial", 3);
        seedSeries("PAT-A", m_studyA, m_studyA + ".2", "MR", "T1", 2);
        seedSeries("PAT-B", m_studyB, m_studyB + ".1", "CR", "PA", 2);
        const QString started = m_orthanc.start();
        QVERIFY2(started.isEmpty(), qPrintable(started));
        const QString seeded = m_orthanc.seed(m_dir.filePath("seed"));
        QVERIFY2(seeded.isEmpty(), qPrintable(seeded));
    }

    void cleanupTestCase() { m_orthanc.stop(); }

    void nodesAreCheckedAndKept()
    {
        ui::MainWindow w;
        ui::PacsDialog* d = openDialog(w, "nodes");
        QVERIFY(d);
        // Without a node, a search says what to do.
        QVERIFY(!d->search());
        QVERIFY2(d->searchText().contains("Add a PACS node"), qPrintable(d->searchText()));
        QVERIFY(d->addNode({"bad", "AE\\TITLE", "127.0.0.1", 104}).contains("AE title"));
        QVERIFY(d->addNode({"bad", "ORTHANC", "", 104}).contains("host"));
        QVERIFY(d->addNode({"", "ORTHANC", "127.0.0.1", 104}).contains("name"));
        core::PacsNode wrong = m_orthanc.node();
        wrong.name = "wrong AE";
        wrong.aeTitle = "NOTORTHANC";
        QCOMPARE(d->addNode(wrong), QString());
        QVERIFY(d->addNode(wrong).contains("already"));
        QVERIFY(d->echo());
        QTRY_VERIFY_WITH_TIMEOUT(!d->running(), 30000);
        QVERIFY2(d->echoText().contains("rejected") && d->echoText().contains("AE title"), qPrintable(d->echoText()));
        core::PacsNode good = m_orthanc.node();
        good.name = "Orthanc";
        QCOMPARE(d->addNode(good), QString());
        QVERIFY(d->echo());
        QTRY_VERIFY_WITH_TIMEOUT(!d->running(), 30000);
        QVERIFY2(d->echoText().contains("answers"), qPrintable(d->echoText()));
        // Kept in the settings: a new dialog lists both and selects the last one used.
        d->close();
        QTRY_VERIFY(!w.findChild<ui::PacsDialog*>());
        menuAction(w, QStringLiteral("Import from &PACS..."))->trigger();
        d = w.findChild<ui::PacsDialog*>();
        QVERIFY(d);
        QCOMPARE(d->findChild<QComboBox*>()->count(), 2);
        QVERIFY(d->currentNode());
        QCOMPARE(d->currentNode()->name, std::string("Orthanc"));
    }

    void searchesRetrievesAndShowsTheImagesAsTheyArrive()
    {
        ui::MainWindow w;
        ui::PacsDialog* d = openDialog(w, "get");
        QVERIFY(d);
        QVERIFY(d->currentNode()); // kept from the test before
        QCOMPARE(d->currentNode()->name, std::string("Orthanc"));
        // A date that is not one is said before anything travels.
        d->dateEdit()->setText("2024-02-30");
        QVERIFY(!d->search());
        QVERIFY2(d->searchText().contains("not a date"), qPrintable(d->searchText()));
        d->dateEdit()->setText("2024-01-01..2024-12-31");
        d->patientIdEdit()->setText("PAT-A");
        QVERIFY(d->search());
        QTRY_VERIFY_WITH_TIMEOUT(!d->running(), 30000);
        QVERIFY2(d->searchText().startsWith("1 study, 2 series, 5 instances"), qPrintable(d->searchText()));
        QTreeWidget* t = d->results();
        QCOMPARE(t->topLevelItemCount(), 1);
        QCOMPARE(t->topLevelItem(0)->childCount(), 2);
        QCOMPARE(t->topLevelItem(0)->text(1), QString("PAT-A"));
        QCOMPARE(t->topLevelItem(0)->text(2), QString("2024-01-31"));
        QCOMPARE(t->topLevelItem(0)->text(6), QString("5"));
        // Every study, searched with a patient name: it matches, and is kept nowhere.
        d->patientIdEdit()->clear();
        d->patientNameEdit()->setText("Secret*");
        QVERIFY(d->search());
        QTRY_VERIFY_WITH_TIMEOUT(!d->running(), 30000);
        QVERIFY2(d->searchText().startsWith("2 studies, 3 series, 7 instances"), qPrintable(d->searchText()));
        QVERIFY(!d->retrieveButton()->isEnabled()); // nothing ticked yet
        QVERIFY(!d->retrieve());
        QVERIFY2(d->resultText().contains("Tick"), qPrintable(d->resultText()));
        d->checkAll(true);
        QVERIFY(d->retrieveButton()->isEnabled());

        // Retrieve: the images appear in the browser series by series, before the last arrives.
        QVERIFY(w.browser());
        QCOMPARE(w.browser()->model()->rowCount(), 0);
        std::vector<int> seen;
        connect(d, &ui::PacsDialog::imagesArrived, this, [&] { seen.push_back(w.browser()->model()->rowCount()); });
        QTest::mouseClick(d->retrieveButton(), Qt::LeftButton);
        QVERIFY(d->running());
        QVERIFY(d->cancelButton()->isEnabled());
        QTRY_VERIFY_WITH_TIMEOUT(!d->running(), 60000);
        QVERIFY2(d->resultText().contains("Retrieved 7 of 7 instances") && d->resultText().contains("Imported 7 images"),
                 qPrintable(d->resultText()));
        QCOMPARE(w.browser()->model()->rowCount(), 7);
        QVERIFY(seen.size() >= 3);
        QVERIFY2(seen.front() > 0 && seen.front() < 7, qPrintable(QString::number(seen.front())));
        // Again: nothing travels, nothing is imported twice.
        QVERIFY(d->retrieve());
        QTRY_VERIFY_WITH_TIMEOUT(!d->running(), 60000);
        QVERIFY2(d->resultText().contains("7 already here") && d->resultText().contains("Imported 0 images"), qPrintable(d->resultText()));
        QCOMPARE(w.browser()->model()->rowCount(), 7);
        // The patient name went to the PACS only.
        d->close();
        QTRY_VERIFY(!w.findChild<ui::PacsDialog*>());
        QSettings().sync();
        QVERIFY(filesHolding(QFileInfo(QSettings().fileName()).absolutePath(), "Secret").isEmpty());
        const QStringList leaks = filesHolding(m_dir.filePath("get"), "Secret");
        QVERIFY2(leaks.isEmpty(), qPrintable(leaks.join(", ")));
    }

    void cancelStopsAndARetryCompletesByMove()
    {
        ui::MainWindow w;
        ui::PacsDialog* d = openDialog(w, "move");
        QVERIFY(d);
        d->modalityEdit()->setText("CR");
        QVERIFY(d->search());
        QTRY_VERIFY_WITH_TIMEOUT(!d->running(), 30000);
        QVERIFY2(d->searchText().startsWith("1 study, 1 series, 2 instances"), qPrintable(d->searchText()));
        d->checkAll(true);
        d->methodBox()->setCurrentIndex(1); // C-MOVE to this workstation
        QVERIFY(d->storagePortBox()->isEnabled());
        d->storagePortBox()->setValue(m_orthanc.moveDestinationPort());
        // Cancel at once: nothing hangs, the dialog says so.
        QVERIFY(d->retrieve());
        QTest::mouseClick(d->cancelButton(), Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(!d->running(), 30000);
        QVERIFY2(d->resultText().contains("cancelled"), qPrintable(d->resultText()));
        // Again, to the end.
        QVERIFY(d->retrieve());
        QTRY_VERIFY_WITH_TIMEOUT(!d->running(), 60000);
        QVERIFY2(d->resultText().contains("2 of 2 instances"), qPrintable(d->resultText()));
        QCOMPARE(w.browser()->model()->rowCount(), 2);
        // An AE title that is not one is said before anything travels.
        d->ourAeEdit()->setText("MEDSIAM\\X");
        QVERIFY(!d->retrieve());
        QVERIFY2(d->resultText().contains("Our AE title"), qPrintable(d->resultText()));
    }
};

QTEST_MAIN(TestPacsImport)
#include "TestPacsImport.moc"
