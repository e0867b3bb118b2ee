// The main window opens offscreen, shows a project's counts, and explains a bad folder.
#include "mainwindow/MainWindow.h"
#include "project/Project.h"

#include <QApplication>
#include <QLabel>
#include <QMessageBox>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>

class TestMainWindow : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void opensAProjectAndShowsItsCounts()
    {
        QTemporaryDir tmp;
        medsiam::core::Project::create(tmp.filePath("p").toStdString(), 64);
        medsiam::ui::MainWindow w;
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QVERIFY(w.openProject(tmp.filePath("p")));
        bool found = false;
        for (QLabel* l : w.findChildren<QLabel*>())
            found |= l->text().contains("0 items from 0 files") && l->text().contains("64 x 64 px");
        QVERIFY(found);
        QVERIFY(w.windowTitle().contains(tmp.filePath("p")));
    }

    void aFolderThatIsNoProjectGetsAPlainMessage()
    {
        QTemporaryDir tmp;
        medsiam::ui::MainWindow w;
        w.show();
        QString shown;
        QTimer::singleShot(0, [&] {
            auto* box = qobject_cast<QMessageBox*>(QApplication::activeModalWidget());
            if (box) {
                shown = box->text();
                box->accept();
            }
        });
        QVERIFY(!w.openProject(tmp.path()));
        QVERIFY2(shown.contains("is not a medsiam project"), qPrintable(shown));
    }
};

QTEST_MAIN(TestMainWindow)
#include "TestMainWindow.moc"
