// While 5,000 files import through the dialog, the GUI thread keeps serving its events: a 5 ms
// timer measures how late each of its ticks comes. The maximum lateness must stay under 50 ms.
#include "UiTestSupport.h"

#include "browser/BrowserView.h"
#include "browser/CatalogueModel.h"
#include "importer/ImportDialog.h"
#include "mainwindow/MainWindow.h"
#include "project/ProjectSession.h"

#include <QApplication>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QPushButton>
#include <QSettings>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>

using namespace medsiam;

class TestImportResponsiveness : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void theGuiThreadNeverStallsDuringAnImportOf5000Files()
    {
        QApplication::setOrganizationName("medsiam-tests");
        QApplication::setApplicationName("test_import_responsiveness");
        QTemporaryDir tmp;
        const int files = 5000;
        test::writeImageFolder(tmp.filePath("src"), files, 128, true); // seconds of decoding, like real images
        ui::MainWindow w;
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QVERIFY(w.createProject(tmp.filePath("p"), 32));
        ui::ImportDialog* d = w.showImportDialog({tmp.filePath("src")});

        QElapsedTimer clock;
        qint64 last = 0, worst = 0, ticks = 0;
        QTimer probe;
        probe.setTimerType(Qt::PreciseTimer);
        probe.setInterval(5);
        QObject::connect(&probe, &QTimer::timeout, [&] {
            const qint64 now = clock.nsecsElapsed();
            worst = std::max(worst, now - last - 5'000'000);
            last = now;
            ++ticks;
        });
        clock.start();
        probe.start();
        QTest::mouseClick(d->importButton(), Qt::LeftButton);
        QElapsedTimer importTime;
        importTime.start();
        // A plain event loop, as the application runs (QTest::qWait sleeps between its passes).
        QEventLoop loop;
        QObject::connect(d, &ui::ImportDialog::importFinished, &loop, &QEventLoop::quit);
        QTimer::singleShot(300000, &loop, &QEventLoop::quit);
        loop.exec();
        QVERIFY(!d->running());
        const double seconds = importTime.elapsed() / 1000.0;
        // Keep measuring a little: the project reload after the import runs on the GUI thread too.
        QEventLoop after;
        QTimer::singleShot(200, &after, &QEventLoop::quit);
        after.exec();
        probe.stop();
        QTRY_COMPARE(w.browser()->model()->rowCount(), files);
        const double worstMs = worst / 1e6;
        qInfo("import of %d files: %.1f s, %lld timer ticks, worst GUI-thread delay %.1f ms", files, seconds, ticks, worstMs);
        QVERIFY2(worstMs < 50.0, qPrintable(QString("the GUI thread stalled for %1 ms").arg(worstMs)));
        d->close();
    }
};

QTEST_MAIN(TestImportResponsiveness)
#include "TestImportResponsiveness.moc"
