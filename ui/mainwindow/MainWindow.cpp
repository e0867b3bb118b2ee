#include "mainwindow/MainWindow.h"

#include "mainwindow/ProjectSummaryView.h"
#include "project/Project.h"
#include "util/Error.h"

#include <QApplication>
#include <QFileDialog>
#include <QMenuBar>
#include <QMessageBox>
#include <QStatusBar>

namespace medsiam::ui {

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent), m_summary(new ProjectSummaryView(this))
{
    setWindowTitle(tr("medsiam"));
    setCentralWidget(m_summary);
    QMenu* file = menuBar()->addMenu(tr("&File"));
    QAction* open = file->addAction(tr("&Open Project..."), this, &MainWindow::chooseProject);
    open->setShortcut(QKeySequence::Open);
    file->addSeparator();
    QAction* quit = file->addAction(tr("&Quit"), qApp, &QApplication::quit);
    quit->setShortcut(QKeySequence::Quit);
    statusBar()->showMessage(tr("No project open"));
    resize(900, 600);
}

MainWindow::~MainWindow() = default;

void MainWindow::chooseProject()
{
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Open medsiam project"));
    if (!dir.isEmpty())
        openProject(dir);
}

bool MainWindow::openProject(const QString& dir)
{
    try {
        m_project = core::Project::open(dir.toStdString());
        m_summary->showSummary(m_project->summary());
        setWindowTitle(tr("%1 - medsiam").arg(dir));
        statusBar()->showMessage(tr("Opened %1").arg(dir));
        return true;
    } catch (const core::UserError& e) {
        QMessageBox::warning(this, tr("Cannot open project"), QString::fromStdString(e.what()));
        return false;
    }
}

} // namespace medsiam::ui
