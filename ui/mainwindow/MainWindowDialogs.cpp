// MainWindow's non-modal dialogs: Import Images and Import from PACS (and whether one is working
// on the project), Compare Runs, the transfer experiment, Train a
// Classifier and the Help menu's windows, each opened (or raised) and wired to the window's panels.
#include "mainwindow/MainWindow.h"

#include "experiment/CompareRunsDialog.h"
#include "experiment/ExperimentDialog.h"
#include "help/HelpDialogs.h"
#include "importer/ImportDialog.h"
#include "map/MapPanel.h"
#ifdef MEDSIAM_HAVE_PACS
#include "pacs/PacsDialog.h"
#endif
#include "project/Project.h"
#include "project/ProjectSession.h"
#include "results/ResultsPanel.h"
#include "review/ReviewDialog.h"
#include "common/Count.h"
#include "training/TrainClassifierDialog.h"
#include "training/TrainingPanel.h"

#include <QMessageBox>
#include <QStatusBar>

namespace medsiam::ui {

CompareRunsDialog* MainWindow::showCompareRuns()
{
    if (!m_session)
        return nullptr;
    auto* d = new CompareRunsDialog(m_session->project(), {}, this);
    d->setAttribute(Qt::WA_DeleteOnClose);
    d->show();
    return d;
}

ExperimentDialog* MainWindow::showExperiment()
{
    if (!m_session)
        return nullptr;
    if (m_session->readOnly()) {
        showError(tr("Transfer Experiment"), tr("The project is open read-only; reopen it for editing (File menu) to run an experiment."));
        return nullptr;
    }
    auto* d = new ExperimentDialog(m_session->dir(), this);
    d->setAttribute(Qt::WA_DeleteOnClose);
    connect(d, &ExperimentDialog::experimentFinished, this, [this] {
        if (m_training)
            m_training->refreshRuns();
    });
    d->show();
    return d;
}

template <typename Dialog, typename Make>
Dialog* MainWindow::raiseOrShow(Make make)
{
    if (auto* open = findChild<Dialog*>()) {
        open->raise();
        open->activateWindow();
        return open;
    }
    Dialog* d = make();
    d->setAttribute(Qt::WA_DeleteOnClose);
    d->show();
    return d;
}

ShortcutsDialog* MainWindow::showShortcuts()
{
    return raiseOrShow<ShortcutsDialog>([this] { return new ShortcutsDialog(this, this); });
}

AboutDialog* MainWindow::showAbout()
{
    return raiseOrShow<AboutDialog>([this] { return new AboutDialog(this); });
}

UserGuideDialog* MainWindow::showUserGuide()
{
    const QString path = userGuidePath();
    if (path.isEmpty()) {
        showError(tr("User Guide"), tr("The user guide (USER_GUIDE.md) is not installed with this copy of medsiam; it is in the "
                                       "docs folder of medsiam's source."));
        return nullptr;
    }
    return raiseOrShow<UserGuideDialog>([this, path] { return new UserGuideDialog(path, this); });
}

TrainClassifierDialog* MainWindow::showTrainClassifier()
{
    if (!m_session)
        return nullptr;
    if (m_session->readOnly()) {
        showError(tr("Train a Classifier"), tr("The project is open read-only; reopen it for editing (File menu) to train."));
        return nullptr;
    }
    return raiseOrShow<TrainClassifierDialog>([this] {
        auto* d = new TrainClassifierDialog(*m_session, this);
        wireTrainClassifier(d);
        return d;
    });
}

bool MainWindow::projectTakesImports(const QString& title)
{
    if (!m_session) {
        showError(title, tr("Create or open a project first (File > New Project)."));
        return false;
    }
    if (m_session->readOnly()) {
        showError(title, tr("The project is open read-only; reopen it for editing (File menu) to import."));
        return false;
    }
    return true;
}

void MainWindow::reloadAfterImport(const QString& message)
{
    if (!m_session)
        return;
    m_session->reload();
    statusBar()->showMessage(message.arg(countOf(qint64(m_session->rows().size()), tr("image"), tr("images"))), 8000);
}

ImportDialog* MainWindow::showImportDialog(const QStringList& sources)
{
    if (!projectTakesImports(tr("Import")))
        return nullptr;
    auto* d = new ImportDialog(*m_session, sources, this);
    d->setAttribute(Qt::WA_DeleteOnClose);
    connect(d, &ImportDialog::importFinished, this, [this] { reloadAfterImport(tr("Import finished: %1 in the project")); });
    d->show();
    return d;
}

bool MainWindow::importRunning()
{
    for (ImportDialog* d : findChildren<ImportDialog*>())
        if (d->running()) {
            QMessageBox::information(this, tr("Import running"), tr("Cancel the import (or let it finish) first."));
            d->raise();
            return true;
        }
#ifdef MEDSIAM_HAVE_PACS
    for (PacsDialog* d : findChildren<PacsDialog*>())
        if (d->running()) {
            QMessageBox::information(this, tr("PACS retrieve running"),
                                     tr("Cancel the work with the PACS (or let it finish) first; what has arrived is kept."));
            d->raise();
            return true;
        }
#endif
    return false;
}

PacsDialog* MainWindow::showPacsDialog()
{
#ifndef MEDSIAM_HAVE_PACS
    showError(tr("Import from PACS"), tr("This build of medsiam has no DICOM networking (it was built without DCMTK)."));
    return nullptr;
#else
    if (!projectTakesImports(tr("Import from PACS")))
        return nullptr;
    return raiseOrShow<PacsDialog>([this] {
        auto* d = new PacsDialog(*m_session, this);
        connect(d, &PacsDialog::imagesArrived, this, [this] { reloadAfterImport(tr("From the PACS: %1 in the project")); });
        return d;
    });
#endif
}

ReviewDialog* MainWindow::showReview(bool predict)
{
    if (!m_session)
        return nullptr;
    auto* d = raiseOrShow<ReviewDialog>([this] {
        auto* review = new ReviewDialog(*m_session, this);
        connect(review, &ReviewDialog::runsChanged, this, [this] {
            if (m_training)
                m_training->refreshRuns();
            m_results->refreshRuns();
            m_map->refreshRuns();
        });
        return review;
    });
    if (predict && !m_session->readOnly() && !d->busy() && !d->currentRun().isEmpty() &&
        d->queueIds().size() < m_session->unlabeledCount())
        d->predictUnlabeled();
    return d;
}

void MainWindow::wireTrainClassifier(TrainClassifierDialog* d)
{
    connect(d, &TrainClassifierDialog::runCreated, this, [this] {
        if (m_training)
            m_training->refreshRuns();
    });
    connect(d, &TrainClassifierDialog::finished, this, [this](const QString& state, const QString& run) {
        if (m_training)
            m_training->refreshRuns();
        m_map->refreshRuns();
        m_results->refreshRuns();
        statusBar()->showMessage(tr("Classifier %1: %2").arg(run, state), 8000);
    });
    connect(d, &TrainClassifierDialog::showResultsRequested, this, [this](const QString& run) {
        showResults();
        m_results->refreshRuns();
        m_results->selectRun(run);
    });
    connect(d, &TrainClassifierDialog::advancedRequested, this, [this] {
        showTraining();
        m_training->newRun(TrainingJob::Kind::Finetune);
    });
}

} // namespace medsiam::ui
