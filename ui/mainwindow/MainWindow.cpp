#include "mainwindow/MainWindow.h"

#include "common/AppIcon.h"
#include "common/Count.h"
#include "browser/BrowserView.h"
#include "browser/CatalogueModel.h"
#include "importer/ImportDialog.h"
#include "labels/ClassPanel.h"
#include "labels/LabelTableDialog.h"
#include "map/EmbeddingMapView.h"
#include "map/MapPanel.h"
#ifdef MEDSIAM_HAVE_PACS
#include "pacs/PacsDialog.h"
#endif
#include "results/ResultsPanel.h"
#include "training/TrainClassifierDialog.h"
#include "training/TrainingPanel.h"
#include "mainwindow/ProjectSummaryView.h"
#include "project/Importer.h"
#include "project/NewProjectDialog.h"
#include "project/Project.h"
#include "project/ProjectBackup.h"
#include "project/ProjectSession.h"
#include "splits/SplitsDialog.h"
#include "util/Error.h"
#include "viewer/ViewerPanel.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDialog>
#include <QDir>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QLabel>
#include <QListView>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QPushButton>
#include <QSettings>
#include <QStackedWidget>
#include <QStatusBar>
#include <QTimer>
#include <QUndoStack>

namespace medsiam::ui {

namespace {
constexpr int kMaxRecent = 8;
const char* kRecentKey = "recentProjects";
} // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent)
{
    setWindowTitle(tr("medsiam"));
    setWindowIcon(appIcon());
    setAcceptDrops(true);
    m_central = new QStackedWidget(this);
    m_welcome = new ProjectSummaryView(m_central);
    m_central->addWidget(m_welcome);
    setCentralWidget(m_central);
    m_counts = new QLabel(this);
    m_readOnlyLabel = new QLabel(this);
    m_readOnlyLabel->setObjectName(QStringLiteral("readOnlyLabel"));
    m_readOnlyLabel->setStyleSheet(QStringLiteral("QLabel { color: #b35c00; font-weight: bold; }"));
    m_readOnlyLabel->hide();
    statusBar()->addPermanentWidget(m_readOnlyLabel);
    statusBar()->addPermanentWidget(m_counts);
    buildDocks();
    buildActions();
    updateActions();
    statusBar()->showMessage(tr("No project open"));
    resize(1280, 800);
    QSettings settings;
    restoreGeometry(settings.value(QStringLiteral("window/geometry")).toByteArray());
    restoreState(settings.value(QStringLiteral("window/state")).toByteArray());
}

MainWindow::~MainWindow()
{
    // The views refer to the session: remove them first. An import still running is cancelled
    // (its job joins its thread as the dialog goes).
    qDeleteAll(findChildren<ImportDialog*>());
#ifdef MEDSIAM_HAVE_PACS
    qDeleteAll(findChildren<PacsDialog*>()); // a retrieve stops; what arrived is kept
#endif
    qDeleteAll(findChildren<TrainClassifierDialog*>()); // a chain in progress stops with its checkpoint
    m_closing = true; // a training run stops without asking (its job writes a checkpoint)
    closeProject();
}

void MainWindow::buildDocks()
{
    auto dock = [this](const QString& title, const char* name, Qt::DockWidgetArea area) {
        auto* d = new QDockWidget(title, this);
        d->setObjectName(QLatin1String(name));
        addDockWidget(area, d);
        return d;
    };
    m_viewerDock = dock(tr("Viewer"), "viewerDock", Qt::RightDockWidgetArea);
    m_tagsDock = dock(tr("Attributes"), "tagsDock", Qt::RightDockWidgetArea);
    m_classesDock = dock(tr("Classes"), "classesDock", Qt::LeftDockWidgetArea);
    m_summaryDock = dock(tr("Project"), "summaryDock", Qt::LeftDockWidgetArea);
    m_mapDock = dock(tr("Embedding Map"), "mapDock", Qt::BottomDockWidgetArea);
    m_mapDock->hide(); // until asked for (Data > Embedding Map)
    m_trainingDock = dock(tr("Training"), "trainingDock", Qt::BottomDockWidgetArea);
    m_trainingDock->hide(); // until asked for (Train menu)
    m_resultsDock = dock(tr("Results"), "resultsDock", Qt::BottomDockWidgetArea);
    m_resultsDock->hide(); // until asked for (Train menu)
    tabifyDockWidget(m_trainingDock, m_mapDock);
    tabifyDockWidget(m_trainingDock, m_resultsDock);
    splitDockWidget(m_viewerDock, m_tagsDock, Qt::Vertical);
    resizeDocks({m_viewerDock}, {520}, Qt::Horizontal);
    resizeDocks({m_classesDock}, {240}, Qt::Horizontal);
    resizeDocks({m_viewerDock, m_tagsDock}, {520, 220}, Qt::Vertical);
}

void MainWindow::buildActions()
{
    QMenu* file = menuBar()->addMenu(tr("&File"));
    file->addAction(tr("&New Project..."), this, &MainWindow::newProjectDialog)->setShortcut(QKeySequence::New);
    file->addAction(tr("&Open Project..."), this, &MainWindow::chooseProject)->setShortcut(QKeySequence::Open);
    m_recentMenu = file->addMenu(tr("Open &Recent"));
    file->addSeparator();
    QAction* import = file->addAction(tr("&Import Images..."), this, [this] { showImportDialog(); });
    import->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_I));
    QAction* pacs = file->addAction(tr("Import from &PACS..."), this, [this] { showPacsDialog(); });
    pacs->setToolTip(tr("Search a PACS and retrieve studies and series into the project"));
#ifndef MEDSIAM_HAVE_PACS
    pacs->setVisible(false); // this build has no DICOM networking
#endif
    QAction* importCsv = file->addAction(tr("Import &Labels from CSV..."), this, &MainWindow::importLabelsCsv);
    QAction* exportCsv = file->addAction(tr("&Export Labels to CSV..."), this, &MainWindow::exportLabelsCsv);
    file->addSeparator();
    m_reopenWritable = file->addAction(tr("Reopen for &Editing"), this, &MainWindow::reopenForEditing);
    m_reopenWritable->setToolTip(tr("The project is open read-only because another program was changing it; "
                                    "reopen it for labeling, import and training once that program has finished"));
    m_reopenWritable->setVisible(false);
    QAction* close = file->addAction(tr("&Close Project"), this, [this] { closeProject(); });
    file->addSeparator();
    file->addAction(tr("&Quit"), this, &QWidget::close)->setShortcut(QKeySequence::Quit);

    QMenu* edit = menuBar()->addMenu(tr("&Edit"));
    // A step whose write fails (a full disk) stays where it was on the stack, with a message.
    m_undo = edit->addAction(tr("&Undo"), this, [this] {
        if (!m_session)
            return;
        try {
            m_session->undoStack()->undo();
        } catch (const core::UserError& e) {
            showError(tr("Cannot undo"), QString::fromStdString(e.what()));
        }
    });
    m_undo->setShortcut(QKeySequence::Undo);
    m_redo = edit->addAction(tr("&Redo"), this, [this] {
        if (!m_session)
            return;
        try {
            m_session->undoStack()->redo();
        } catch (const core::UserError& e) {
            showError(tr("Cannot redo"), QString::fromStdString(e.what()));
        }
    });
    // Both usual redo keys, whatever the platform theme lists.
    m_redo->setShortcuts({QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Z), QKeySequence(Qt::CTRL | Qt::Key_Y)});

    QMenu* label = menuBar()->addMenu(tr("&Label"));
    m_labelMenu = label;
    // One action per key, on the window so that every key works (an unassigned one says so);
    // the menu lists the keys that have a class, by the class's name (updateLabelMenu).
    for (const std::string& key : core::classKeys()) {
        const QString k = QString::fromStdString(key);
        auto* a = new QAction(tr("Key %1").arg(k), this);
        a->setShortcut(QKeySequence(k));
        a->setData(k);
        a->setProperty("helpGroup", tr("Label"));
        connect(a, &QAction::triggered, this, [this, k] { labelSelection(k); });
        addAction(a);
        m_keyActions << a;
        m_projectActions << a;
    }
    QAction* clear = label->addAction(tr("Clear label"), this, &MainWindow::clearSelectionLabels);
    m_clearLabel = clear;
    clear->setShortcuts({QKeySequence(Qt::Key_Backspace), QKeySequence(Qt::Key_Delete)});
    label->addSeparator();
    m_advance = label->addAction(tr("Advance after labeling"));
    m_advance->setCheckable(true);
    m_advance->setChecked(QSettings().value(QStringLiteral("advanceAfterLabel"), true).toBool());
    m_advance->setToolTip(tr("After labeling a single image, move to the next one"));
    connect(m_advance, &QAction::toggled, this, [](bool on) { QSettings().setValue(QStringLiteral("advanceAfterLabel"), on); });
    QAction* classes = label->addAction(tr("Edit &Classes..."), this, &MainWindow::editClasses);

    QMenu* data = menuBar()->addMenu(tr("&Data"));
    QAction* splits = data->addAction(tr("&Splits..."), this, &MainWindow::editSplits);
    QAction* map = data->addAction(tr("Embedding &Map"), this, &MainWindow::showMap);
    map->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_M));
    map->setToolTip(tr("Every image placed by a run's embeddings (t-SNE or PCA), coloured by class"));

    QMenu* train = menuBar()->addMenu(tr("&Train"));
    QAction* guided = train->addAction(tr("Train a &Classifier..."), this, [this] { showTrainClassifier(); });
    guided->setToolTip(tr("The guided way: checks your labels, trains within a time budget and says the result in words"));
    train->addSeparator();
    QAction* pretrain = train->addAction(tr("New SimSiam &Pretraining..."), this, [this] {
        showTraining();
        m_training->newRun(TrainingJob::Kind::Pretrain);
    });
    pretrain->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_T));
    QAction* finetune = train->addAction(tr("New &Fine-tuning..."), this, [this] {
        showTraining();
        m_training->newRun(TrainingJob::Kind::Finetune);
    });
    QAction* trainingPanel = train->addAction(tr("&Training Runs"), this, &MainWindow::showTraining);
    trainingPanel->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_T));
    QAction* results = train->addAction(tr("Classification &Results"), this, &MainWindow::showResults);
    results->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_R));
    results->setToolTip(tr("A fine-tuned run's metrics and confusion matrix, with the images behind each cell"));
    QAction* review = train->addAction(tr("&Predict Unlabeled..."), this, [this] { showReview(true); });
    review->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_P));
    review->setToolTip(tr("Classify the unlabeled images with a classifier and review them, least certain first"));
    QAction* reviewOnly = train->addAction(tr("Re&view Predictions..."), this, [this] { showReview(false); });
    reviewOnly->setToolTip(tr("The images a classifier is least sure of, first: accept or correct its predictions"));
    train->addSeparator();
    QAction* compare = train->addAction(tr("&Compare Runs..."), this, [this] { showCompareRuns(); });
    compare->setToolTip(tr("The curves of several runs on one plot, and the settings in which they differ"));
    QAction* experiment = train->addAction(tr("New &Experiment..."), this, [this] { showExperiment(); });
    experiment->setToolTip(tr("Does a transfer model speed up SimSiam on these images, and with which normalization?"));
    m_projectActions << guided << pretrain << finetune << trainingPanel << results << review << reviewOnly << compare << experiment;

    m_viewMenu = menuBar()->addMenu(tr("&View"));
    QAction* reload = m_viewMenu->addAction(tr("&Reload Project"), this, [this] {
        if (m_session) {
            m_session->reload();
            statusBar()->showMessage(tr("Reloaded: %1").arg(countOf(qint64(m_session->rows().size()), tr("image"), tr("images"))), 4000);
        }
    });
    reload->setShortcut(QKeySequence::Refresh);
    reload->setToolTip(tr("Re-read the project (after medsiam-cli changed it)"));
    m_projectActions << reload;
    m_viewMenu->addSeparator();
    for (QDockWidget* d : {m_viewerDock, m_tagsDock, m_classesDock, m_summaryDock, m_mapDock, m_trainingDock, m_resultsDock})
        m_viewMenu->addAction(d->toggleViewAction());

    QMenu* help = menuBar()->addMenu(tr("&Help"));
    QAction* guide = help->addAction(tr("&User Guide"), this, [this] { showUserGuide(); });
    guide->setShortcut(QKeySequence::HelpContents);
    guide->setToolTip(tr("Import, label, train and read the results, step by step"));
    QAction* keys = help->addAction(tr("&Keyboard Shortcuts"), this, [this] { showShortcuts(); });
    keys->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Slash));
    help->addSeparator();
    help->addAction(tr("&About medsiam"), this, [this] { showAbout(); })->setMenuRole(QAction::AboutRole);

    m_projectActions << import << pacs << importCsv << exportCsv << close << clear << classes << splits << map;
    m_writeActions << import << pacs << importCsv << clear << classes << splits << pretrain << finetune << guided;
    m_writeActions << m_keyActions;
    updateLabelMenu();
    updateRecentMenu();
}

void MainWindow::updateLabelMenu()
{
    for (QAction* a : m_keyActions) {
        m_labelMenu->removeAction(a);
        const QString key = a->data().toString();
        const core::ClassInfo* c = m_session ? m_session->classForShortcut(key) : nullptr;
        a->setText(c ? tr("Label as \u201c%1\u201d").arg(QString::fromStdString(c->name)) : tr("Key %1 (no class)").arg(key));
        a->setProperty("helpHidden", c == nullptr); // Keyboard Shortcuts lists the keys that label
        a->setToolTip(c ? tr("Label the selected images %1 (key %2)").arg(QString::fromStdString(c->name), key)
                        : tr("No class has key %1").arg(key));
    }
    // The classes in their order, before "Clear label".
    if (m_session)
        for (const core::ClassInfo& c : m_session->classes())
            for (QAction* a : m_keyActions)
                if (a->data().toString() == QString::fromStdString(c.shortcut))
                    m_labelMenu->insertAction(m_clearLabel, a);
}

void MainWindow::updateActions()
{
    for (QAction* a : m_projectActions)
        a->setEnabled(m_session != nullptr);
    const bool readOnly = m_session && m_session->readOnly();
    for (QAction* a : m_writeActions)
        a->setEnabled(m_session != nullptr && !readOnly);
    m_reopenWritable->setVisible(readOnly);
    m_undo->setEnabled(m_session && !readOnly && m_session->undoStack()->canUndo());
    m_redo->setEnabled(m_session && !readOnly && m_session->undoStack()->canRedo());
    if (m_session) {
        m_undo->setText(tr("&Undo %1").arg(m_session->undoStack()->undoText()));
        m_redo->setText(tr("&Redo %1").arg(m_session->undoStack()->redoText()));
    }
}

void MainWindow::showError(const QString& title, const QString& message)
{
    statusBar()->showMessage(message, 10000);
    QMessageBox::warning(this, title, message);
}

QStringList MainWindow::recentProjects() const { return QSettings().value(QLatin1String(kRecentKey)).toStringList(); }

void MainWindow::rememberRecent(const QString& dir)
{
    QStringList list = recentProjects();
    list.removeAll(dir);
    list.prepend(dir);
    while (list.size() > kMaxRecent)
        list.removeLast();
    QSettings().setValue(QLatin1String(kRecentKey), list);
    updateRecentMenu();
}

void MainWindow::updateRecentMenu()
{
    m_recentMenu->clear();
    const QStringList list = recentProjects();
    for (const QString& dir : list)
        m_recentMenu->addAction(dir, this, [this, dir] { openProject(dir); });
    if (list.isEmpty())
        m_recentMenu->addAction(tr("(none)"))->setEnabled(false);
    else {
        m_recentMenu->addSeparator();
        m_recentMenu->addAction(tr("Clear list"), this, [this] {
            QSettings().remove(QLatin1String(kRecentKey));
            updateRecentMenu();
        });
    }
}

void MainWindow::newProjectDialog()
{
    NewProjectDialog d(this);
    if (d.exec() == QDialog::Accepted && createProject(d.folder(), d.cacheResolution()))
        showImportDialog();
}

bool MainWindow::createProject(const QString& dir, int cacheResolution)
{
    return switchTo([&] { return ProjectSession::create(dir, cacheResolution); }, tr("Cannot create project"));
}

bool MainWindow::switchTo(const std::function<std::unique_ptr<ProjectSession>()>& makeSession, const QString& failureTitle)
{
    if (importRunning())
        return false;
    std::unique_ptr<ProjectSession> session;
    try {
        session = makeSession();
    } catch (const core::UserError& e) {
        showError(failureTitle, QString::fromStdString(e.what()));
        return false;
    }
    if (!session)
        return false;
    closeProject();
    m_session = std::move(session);
    attachSession();
    return true;
}

void MainWindow::chooseProject()
{
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Open medsiam project"));
    if (!dir.isEmpty())
        openProject(dir);
}

bool MainWindow::openProject(const QString& dir)
{
    return switchTo([&] { return openSession(dir); }, tr("Cannot open project"));
}

std::unique_ptr<ProjectSession> MainWindow::openSession(const QString& dir)
{
    try {
        return ProjectSession::open(dir);
    } catch (const core::ProjectBusyError& e) {
        QMessageBox box(QMessageBox::Question, tr("Project in use"),
                        tr("%1 is changing this project right now.\n\nOpen it read-only? You can browse and view the images; "
                           "labeling, import and training are off until you reopen it for editing (File menu) once "
                           "that program has finished.")
                            .arg(QString::fromStdString(e.owner().describe())),
                        QMessageBox::Cancel, this);
        QPushButton* readOnly = box.addButton(tr("Open Read-Only"), QMessageBox::AcceptRole);
        box.setDefaultButton(readOnly);
        box.exec();
        if (box.clickedButton() != readOnly)
            return nullptr;
        return ProjectSession::open(dir, true);
    } catch (const core::DamagedProjectError& e) {
        const auto backups = core::listBackups(dir.toStdString());
        const core::ProjectBackupInfo* usable = nullptr;
        for (const auto& b : backups)
            if (b.images >= 0) {
                usable = &b;
                break;
            }
        if (!usable) {
            showError(tr("Damaged project"), QString::fromStdString(e.what()) + tr("\n\nThe project has no backup to restore."));
            return nullptr;
        }
        QMessageBox box(QMessageBox::Warning, tr("Damaged project"),
                        QString::fromStdString(e.what()) +
                            tr("\n\nRestore the backup of %1 (%2 images, %3 labels, %4 runs)? The damaged catalogue is kept "
                               "beside it, and runs trained since are found again from their folders; images imported "
                               "since then must be imported again.")
                                .arg(QString::fromStdString(usable->createdAt))
                                .arg(usable->images)
                                .arg(usable->labels)
                                .arg(usable->runs),
                        QMessageBox::Cancel, this);
        QPushButton* restore = box.addButton(tr("Restore Backup"), QMessageBox::AcceptRole);
        box.exec();
        if (box.clickedButton() != restore)
            return nullptr;
        const auto result = core::restoreProjectBackup(dir.toStdString(), usable->path);
        statusBar()->showMessage(tr("Restored the backup of %1; %2 found again")
                                     .arg(QString::fromStdString(result.backup.createdAt),
                                          countOf(qint64(result.runsFound.size()), tr("run"), tr("runs"))),
                                 10000);
        return ProjectSession::open(dir);
    }
}

void MainWindow::reopenForEditing()
{
    if (!m_session || !m_session->readOnly())
        return;
    const QString dir = m_session->dir();
    if (const auto owner = core::Project::writer(dir.toStdString())) {
        QMessageBox::information(this, tr("Project still in use"),
                                 tr("%1 is still changing this project. Try again when it has finished.")
                                     .arg(QString::fromStdString(owner->describe())));
        return;
    }
    switchTo([&] { return ProjectSession::open(dir); }, tr("Cannot reopen the project"));
}

void MainWindow::attachSession()
{
    ProjectSession& s = *m_session;
    m_browser = new BrowserView(s, m_central);
    m_central->addWidget(m_browser);
    m_central->setCurrentWidget(m_browser);
    m_viewer = new ViewerPanel(s, m_viewerDock);
    m_viewerDock->setWidget(m_viewer);
    m_tags = new TagsPanel(m_tagsDock);
    m_tagsDock->setWidget(m_tags);
    m_classes = new ClassPanel(s, m_classesDock);
    m_classes->setMinimumWidth(230);
    m_classesDock->setWidget(m_classes);
    m_summary = new ProjectSummaryView(m_summaryDock);
    m_summaryDock->setWidget(m_summary);
    m_map = new MapPanel(s, m_mapDock);
    m_mapDock->setWidget(m_map);
    m_training = new TrainingPanel(s, m_trainingDock);
    m_trainingDock->setWidget(m_training);
    m_results = new ResultsPanel(s, m_resultsDock);
    m_resultsDock->setWidget(m_results);

    connect(m_browser, &BrowserView::currentImageChanged, m_viewer, &ViewerPanel::showImage);
    connect(m_viewer, &ViewerPanel::sourceChanged, m_tags, &TagsPanel::showFile);
    connect(m_viewer, &ViewerPanel::statusMessage, this, [this](const QString& m) { statusBar()->showMessage(m, 8000); });
    connect(m_browser, &BrowserView::selectionCountChanged, this, &MainWindow::updateStatus);
    connect(m_classes, &ClassPanel::classActivated, this, [this](qint64 id) {
        try {
            m_session->labelImages(labelTargets(), id);
        } catch (const core::UserError& e) {
            showError(tr("Cannot save the label"), QString::fromStdString(e.what()));
        }
    });
    connect(m_map, &MapPanel::imageActivated, this, &MainWindow::showImageAnywhere);
    connect(m_results, &ResultsPanel::imageActivated, this, &MainWindow::showImageAnywhere);
    for (auto signal : {&TrainingPanel::runDeleted, &TrainingPanel::runDescribed})
        connect(m_training, signal, this, [this] {
            m_map->refreshRuns();
            m_results->refreshRuns();
        });
    connect(m_training, &TrainingPanel::runFinished, this, [this](const QString& run, const QString& state) {
        statusBar()->showMessage(tr("Run %1 %2").arg(run, state), 8000);
        m_map->refreshRuns(); // a new checkpoint to map
        m_results->refreshRuns(); // and new predictions
    });
    connect(m_map, &MapPanel::selectionChanged, this, [this](int n) {
        if (n > 1)
            statusBar()->showMessage(tr("%1 images selected on the map: a class key labels them while the map has the focus").arg(n), 6000);
    });
    connect(m_classes, &ClassPanel::editSchemaRequested, this, &MainWindow::editClasses);
    connect(&s, &ProjectSession::labelsChanged, this, &MainWindow::updateStatus);
    connect(&s, &ProjectSession::classesChanged, this, &MainWindow::updateLabelMenu);
    // The summary counts by SQL; refresh it once a burst of labeling pauses.
    auto* summaryTimer = new QTimer(m_summary);
    summaryTimer->setSingleShot(true);
    summaryTimer->setInterval(400);
    connect(summaryTimer, &QTimer::timeout, this, [this] {
        if (m_session && m_summary)
            m_summary->showSummary(m_session->project().summary());
    });
    connect(&s, &ProjectSession::labelsChanged, summaryTimer, qOverload<>(&QTimer::start));
    connect(&s, &ProjectSession::catalogueReloaded, this, [this] {
        m_summary->showSummary(m_session->project().summary());
        updateStatus();
    });
    connect(s.undoStack(), &QUndoStack::indexChanged, this, &MainWindow::updateActions);

    m_summary->showSummary(s.project().summary());
    resizeDocks({m_classesDock, m_viewerDock}, {270, 520}, Qt::Horizontal);
    setWindowTitle(s.readOnly() ? tr("%1 (read-only) - medsiam").arg(QDir::toNativeSeparators(s.dir()))
                                : tr("%1 - medsiam").arg(QDir::toNativeSeparators(s.dir())));
    if (s.readOnly()) {
        const auto owner = core::Project::writer(s.dir().toStdString());
        m_readOnlyLabel->setText(tr("Read-only"));
        m_readOnlyLabel->setToolTip(owner ? tr("%1 is changing this project").arg(QString::fromStdString(owner->describe()))
                                          : tr("Opened read-only"));
        m_readOnlyLabel->show();
    } else {
        m_readOnlyLabel->hide();
    }
    rememberRecent(s.dir());
    updateActions();
    updateLabelMenu();
    updateStatus();
    statusBar()->showMessage(tr("Opened %1").arg(s.dir()), 5000);
    m_browser->listView()->setFocus();
    if (!s.rows().empty())
        m_browser->showImage(s.rows().front().imageId);
}

bool MainWindow::closeProject()
{
    if (!m_session)
        return true;
    if (importRunning() || !trainingMayStop())
        return false;
    // Dialogs that work on this project go with it.
    qDeleteAll(findChildren<ImportDialog*>());
#ifdef MEDSIAM_HAVE_PACS
    qDeleteAll(findChildren<PacsDialog*>());
#endif
    for (QDockWidget* d : {m_viewerDock, m_tagsDock, m_classesDock, m_summaryDock, m_mapDock, m_trainingDock, m_resultsDock}) {
        if (QWidget* w = d->widget()) {
            d->setWidget(nullptr);
            delete w;
        }
    }
    m_viewer = nullptr;
    m_tags = nullptr;
    m_classes = nullptr;
    m_summary = nullptr;
    m_map = nullptr;
    m_training = nullptr;
    m_results = nullptr;
    if (m_browser) {
        m_central->removeWidget(m_browser);
        delete m_browser;
        m_browser = nullptr;
    }
    m_central->setCurrentWidget(m_welcome);
    m_session.reset();
    m_readOnlyLabel->hide();
    setWindowTitle(tr("medsiam"));
    m_counts->clear();
    updateActions();
    updateLabelMenu();
    statusBar()->showMessage(tr("No project open"));
    return true;
}

void MainWindow::labelSelection(const QString& key)
{
    if (!m_session || !m_browser)
        return;
    const core::ClassInfo* c = m_session->classForShortcut(key);
    if (!c) {
        statusBar()->showMessage(tr("No class has key %1: add one with Label > Edit Classes.").arg(key), 6000);
        return;
    }
    const QVector<qint64> ids = labelTargets();
    if (ids.isEmpty()) {
        statusBar()->showMessage(tr("Select images to label first."), 4000);
        return;
    }
    try {
        m_session->labelImages(ids, c->id);
    } catch (const core::UserError& e) {
        showError(tr("Cannot save the label"), QString::fromStdString(e.what()));
        return;
    }
    statusBar()->showMessage(tr("%1 labeled %2").arg(countOf(qint64(ids.size()), tr("image"), tr("images")), QString::fromStdString(c->name)), 3000);
    if (ids.size() == 1 && m_advance->isChecked()) {
        const int row = m_browser->model()->rowOfImage(ids.front());
        const int64_t next = m_browser->model()->imageIdAt(row + 1);
        if (next >= 0)
            m_browser->showImage(next);
    }
}

QVector<qint64> MainWindow::labelTargets() const
{
    if (m_map && m_mapDock->isVisible()) {
        const QWidget* focus = QApplication::focusWidget();
        if (focus && (focus == m_map || m_map->isAncestorOf(focus))) {
            const QVector<qint64> ids = m_map->view()->selectedImageIds();
            if (!ids.isEmpty())
                return ids;
        }
    }
    return m_browser ? m_browser->selectedImageIds() : QVector<qint64>();
}

void MainWindow::showTraining()
{
    if (!m_session)
        return;
    m_trainingDock->show();
    m_trainingDock->raise();
}

void MainWindow::showResults()
{
    if (!m_session)
        return;
    m_resultsDock->show();
    m_resultsDock->raise();
}

void MainWindow::showImageAnywhere(qint64 imageId)
{
    if (!m_browser || m_browser->showImage(imageId))
        return;
    m_viewer->showImage(imageId);
    statusBar()->showMessage(tr("Image %1 is hidden by the browser's filter; it is shown in the viewer.").arg(imageId), 6000);
}

bool MainWindow::trainingMayStop()
{
    if (!m_training || !m_training->training() || m_closing)
        return true;
    const auto answer = QMessageBox::question(this, tr("A run is training"),
                                              tr("Run %1 is training. Stop it now? A checkpoint is written, and Train > Training Runs > "
                                                 "Continue resumes it later.")
                                                  .arg(m_training->currentRun()),
                                              QMessageBox::Yes | QMessageBox::No, QMessageBox::No);
    return answer == QMessageBox::Yes;
}

void MainWindow::showMap()
{
    if (!m_session)
        return;
    m_mapDock->show();
    m_mapDock->raise();
    m_map->view()->setFocus();
}

void MainWindow::clearSelectionLabels()
{
    if (!m_session || !m_browser)
        return;
    try {
        m_session->labelImages(labelTargets(), -1);
    } catch (const core::UserError& e) {
        showError(tr("Cannot clear the label"), QString::fromStdString(e.what()));
    }
}

void MainWindow::updateStatus()
{
    if (!m_session)
        return;
    const int selected = m_browser ? static_cast<int>(m_browser->listView()->selectionModel()->selectedIndexes().size()) : 0;
    m_counts->setText(tr("%1 images, %2 labeled, %3 selected")
                          .arg(m_session->rows().size())
                          .arg(static_cast<qint64>(m_session->rows().size()) - m_session->unlabeledCount())
                          .arg(selected));
}

void MainWindow::importLabelsCsv()
{
    if (!m_session)
        return;
    LabelTableDialog d(*m_session, this);
    if (d.exec() == QDialog::Accepted)
        QMessageBox::information(this, tr("Labels imported"), d.resultText());
}

void MainWindow::exportLabelsCsv()
{
    if (!m_session)
        return;
    const QString f = QFileDialog::getSaveFileName(this, tr("Export labels"), QDir(m_session->dir()).filePath(QStringLiteral("labels.csv")),
                                                   tr("CSV files (*.csv)"));
    if (f.isEmpty())
        return;
    try {
        const size_t n = core::exportLabelCsv(m_session->project(), f.toStdString());
        statusBar()->showMessage(tr("%1 labels written to %2").arg(n).arg(f), 8000);
    } catch (const core::UserError& e) {
        showError(tr("Cannot export the labels"), QString::fromStdString(e.what()));
    }
}

void MainWindow::editClasses()
{
    if (!m_session)
        return;
    ClassSchemaDialog d(*m_session, this);
    d.exec();
}

void MainWindow::editSplits()
{
    if (!m_session)
        return;
    SplitsDialog d(*m_session, this);
    if (d.exec() == QDialog::Accepted)
        statusBar()->showMessage(tr("Splits saved"), 5000);
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event)
{
    if (event->mimeData()->hasUrls())
        for (const QUrl& u : event->mimeData()->urls())
            if (u.isLocalFile()) {
                event->acceptProposedAction();
                return;
            }
}

void MainWindow::dropEvent(QDropEvent* event)
{
    QStringList paths;
    for (const QUrl& u : event->mimeData()->urls())
        if (u.isLocalFile())
            paths << u.toLocalFile();
    if (paths.isEmpty())
        return;
    event->acceptProposedAction();
    // A dropped project folder opens; anything else is imported.
    if (paths.size() == 1 && core::Project::exists(paths.front().toStdString())) {
        openProject(paths.front());
        return;
    }
    if (!m_session) {
        if (QMessageBox::question(this, tr("Import"), tr("No project is open. Create a new project for these images?")) != QMessageBox::Yes)
            return;
        newProjectDialog();
        if (!m_session)
            return;
        // newProjectDialog opened an empty import dialog; add the dropped sources to it.
        for (ImportDialog* d : findChildren<ImportDialog*>())
            for (const QString& p : paths)
                d->addSource(p);
        return;
    }
    showImportDialog(paths);
}

void MainWindow::closeEvent(QCloseEvent* event)
{
    if (importRunning() || !trainingMayStop()) {
        event->ignore();
        return;
    }
    QSettings settings;
    settings.setValue(QStringLiteral("window/geometry"), saveGeometry());
    settings.setValue(QStringLiteral("window/state"), saveState());
    QMainWindow::closeEvent(event);
}

} // namespace medsiam::ui
