// medsiam: the desktop application.
#include "mainwindow/MainWindow.h"
#include "system/Runtime.h"

#include <QApplication>
#include <QCommandLineParser>

int main(int argc, char** argv)
{
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("medsiam"));
    QApplication::setOrganizationName(QStringLiteral("medsiam"));
    QApplication::setApplicationVersion(QStringLiteral(MEDSIAM_VERSION));
    medsiam::core::configureThreads();

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("Self-supervised and transfer learning workstation for medical images"));
    parser.addHelpOption();
    parser.addVersionOption();
    parser.addPositionalArgument(QStringLiteral("project"), QStringLiteral("project folder to open"));
    parser.process(app);

    medsiam::ui::MainWindow window;
    window.show();
    if (!parser.positionalArguments().isEmpty())
        window.openProject(parser.positionalArguments().first());
    return app.exec();
}
