// medsiam: the desktop application.
#include "common/AppIcon.h"
#include "mainwindow/MainWindow.h"
#include "project/Importer.h"
#include "system/Runtime.h"
#include "util/FileLock.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QTimer>

#include <cstdio>
#include <unistd.h>

int main(int argc, char** argv)
{
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("medsiam"));
    QApplication::setOrganizationName(QStringLiteral("medsiam"));
    QApplication::setApplicationVersion(QStringLiteral(MEDSIAM_VERSION));
    QApplication::setWindowIcon(medsiam::ui::appIcon());
    QGuiApplication::setDesktopFileName(QStringLiteral("medsiam")); // Wayland and docks match the window to medsiam.desktop
    medsiam::core::configureAllocator();
    medsiam::core::configureThreads();
    medsiam::core::FileLock::setProcessPurpose("the medsiam desktop app");

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("Self-supervised and transfer learning workstation for medical images"));
    parser.addHelpOption();
    parser.addVersionOption();
    parser.addPositionalArgument(QStringLiteral("project"), QStringLiteral("project folder to open"));
    QCommandLineOption screenshot(QStringLiteral("screenshot"), QStringLiteral("save a PNG of the window once shown, then quit (documentation)"),
                                  QStringLiteral("file"));
    parser.addOption(screenshot);
    parser.process(app);

    int rc;
    {
        medsiam::ui::MainWindow window;
        window.show();
        if (!parser.positionalArguments().isEmpty())
            window.openProject(parser.positionalArguments().first());
        if (parser.isSet(screenshot)) {
            const QString file = parser.value(screenshot);
            QTimer::singleShot(500, &window, [&window, file] {
                if (!window.grab().save(file))
                    qWarning("cannot write %s", qPrintable(file));
                QApplication::quit();
            });
        }
        rc = app.exec();
    }
    if (medsiam::core::abandonedDecoderThreads() > 0) {
        // A decoder is still stuck on a damaged file; exit() would pull its library from under it.
        std::fflush(stdout);
        ::_exit(rc);
    }
    return rc;
}
