// medsiam-screenshots: builds a small real scene (the bundled chest X-rays, DICOM CT and MR
// files from Debian's pydicom corpus, and two broken files) and saves the main views as PNGs
// for the documentation. Run it under xvfb-run (scripts/screenshots.sh); not installed.
#include "browser/BrowserView.h"
#include "browser/CatalogueModel.h"
#include "help/HelpDialogs.h"
#include "importer/ImportDialog.h"
#include "map/EmbeddingMapView.h"
#include "map/MapPanel.h"
#include "mainwindow/MainWindow.h"
#ifdef MEDSIAM_SCREENSHOT_PACS
#include "pacs/OrthancServer.h"
#include "pacs/PacsDialog.h"
#include <QLineEdit>
#include <QTreeWidget>
#endif
#include "project/NewProjectDialog.h"
#include "project/Project.h"
#include "project/RunStore.h"
#include "project/ProjectSession.h"
#include "system/Runtime.h"
#include "train/PretrainJob.h"
#include "training/TrainClassifierDialog.h"
#include "training/TrainingPanel.h"
#include "results/ResultsPanel.h"
#include "review/ReviewDialog.h"
#include "splits/SplitsDialog.h"
#include "train/FinetuneJob.h"
#include <QListWidget>
#include <QTableWidget>
#include <QUndoStack>
#include "experiment/CompareRunsDialog.h"
#include "experiment/ExperimentDialog.h"
#include "train/Experiment.h"
#include "viewer/ImageView.h"
#include "viewer/ViewerPanel.h"

#include <QAction>
#include <QApplication>
#include <QComboBox>
#include <QDockWidget>
#include <QDir>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QFile>
#include <QListView>
#include <QCheckBox>
#include <QProgressBar>
#include <QPushButton>
#include <QRadioButton>
#include <QSpinBox>
#include <QTimer>

#include <cstdio>
#include <functional>

namespace {

// Runs the event loop for up to `ms`, sleeping in it while nothing happens (processEvents alone
// returns at once when nothing is pending: a loop of it keeps a core busy, and the training the
// screenshots show would run on the other one).
void idle(int ms)
{
    QEventLoop loop;
    QTimer::singleShot(ms, &loop, &QEventLoop::quit);
    loop.exec();
}

// Runs the event loop until `done` or `ms` pass; false on timeout.
bool waitFor(const std::function<bool()>& done, int ms)
{
    QElapsedTimer t;
    t.start();
    while (!done()) {
        if (t.elapsed() > ms)
            return false;
        idle(20);
    }
    return true;
}

void settle(int ms)
{
    QElapsedTimer t;
    t.start();
    while (t.elapsed() < ms)
        idle(20);
}

bool save(QWidget* w, const QString& path)
{
    const bool ok = w->grab().save(path);
    std::printf("%s %s\n", ok ? "wrote" : "FAILED", qPrintable(path));
    return ok;
}

#ifdef MEDSIAM_SCREENSHOT_PACS
// File > Import from PACS against a real Orthanc on loopback, seeded with the corpus' CT, MR and
// liver CT files: a search for every study, one study ticked and retrieved into a new project.
bool pacsScreenshot(const QString& out, const QString& work, const QString& corpus)
{
    const QString seed = work + QStringLiteral("/pacs-seed");
    QDir().mkpath(seed);
    for (const char* f : {"CT_small.dcm", "MR_small.dcm", "liver_1frame.dcm"})
        QFile::copy(corpus + QLatin1Char('/') + QLatin1String(f), seed + QLatin1Char('/') + QLatin1String(f));
    medsiam::test::OrthancServer orthanc(work + QStringLiteral("/orthanc"));
    QString problem = orthanc.start();
    if (problem.isEmpty())
        problem = orthanc.seed(seed);
    if (!problem.isEmpty()) {
        std::fprintf(stderr, "PACS screenshot: %s\n", qPrintable(problem));
        return false;
    }
    medsiam::ui::MainWindow w;
    w.resize(1500, 920);
    w.show();
    if (!w.createProject(work + QStringLiteral("/FromPacs.medsiam"), 128))
        return false;
    medsiam::ui::PacsDialog* d = w.showPacsDialog();
    if (!d)
        return false;
    d->resize(1100, 720);
    medsiam::core::PacsNode node = orthanc.node();
    node.name = "Radiology archive";
    d->addNode(node);
    d->echo();
    waitFor([d] { return !d->running(); }, 30000);
    d->dateEdit()->setText(QStringLiteral("1990-01-01..2030-12-31"));
    if (!d->search() || !waitFor([d] { return !d->running(); }, 30000))
        return false;
    QTreeWidget* t = d->results();
    if (t->topLevelItemCount() == 0) {
        std::fprintf(stderr, "PACS screenshot: the search found nothing (%s)\n", qPrintable(d->searchText()));
        return false;
    }
    t->topLevelItem(0)->setCheckState(0, Qt::Checked);
    if (!d->retrieve() || !waitFor([d] { return !d->running(); }, 60000))
        return false;
    settle(500);
    return save(d, out + QStringLiteral("/pacs.png"));
}
#endif

} // namespace

int main(int argc, char** argv)
{
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("medsiam-screenshots"));
    QApplication::setApplicationName(QStringLiteral("medsiam"));
    // As the desktop app starts (app/gui/main.cpp), so the training shown runs at the app's speed.
    medsiam::core::configureAllocator();
    medsiam::core::configureThreads();
    if (argc < 4) {
        std::fprintf(stderr, "usage: medsiam-screenshots OUTPUT_DIR WORK_DIR DEMO_NPZ [DICOM_CORPUS]\n");
        return 2;
    }
    const QString out = QString::fromLocal8Bit(argv[1]);
    const QString work = QString::fromLocal8Bit(argv[2]);
    const QString npz = QString::fromLocal8Bit(argv[3]);
    const QString corpus = argc > 4 ? QString::fromLocal8Bit(argv[4]) : QStringLiteral("/usr/lib/python3/dist-packages/pydicom/data/test_files");
    QDir(work).removeRecursively();
    // MEDSIAM_SCREENSHOTS_ONLY=about: the About box alone (it needs no scene).
    if (qEnvironmentVariable("MEDSIAM_SCREENSHOTS_ONLY") == QLatin1String("about")) {
        QDir().mkpath(out);
        medsiam::ui::MainWindow w;
        w.show();
        medsiam::ui::AboutDialog* about = w.showAbout();
        settle(300);
        return save(about, out + QStringLiteral("/about.png")) ? 0 : 1;
    }
#ifdef MEDSIAM_SCREENSHOT_PACS
    // MEDSIAM_SCREENSHOTS_ONLY=pacs: the Import from PACS screenshot alone (it needs no training).
    if (qEnvironmentVariable("MEDSIAM_SCREENSHOTS_ONLY") == QLatin1String("pacs")) {
        QDir().mkpath(out);
        return pacsScreenshot(out, work, corpus) ? 0 : 1;
    }
#endif
    const QString src = work + QStringLiteral("/incoming");
    QDir().mkpath(src + QStringLiteral("/dicom"));
    QDir().mkpath(out);
    QFile::copy(npz, src + QStringLiteral("/pneumoniamnist_28.npz"));
    const QString sidecar = npz.left(npz.size() - 4) + QStringLiteral(".json");
    if (QFile::exists(sidecar))
        QFile::copy(sidecar, src + QStringLiteral("/pneumoniamnist_28.json"));
    for (const char* f : {"CT_small.dcm", "MR_small.dcm", "MR_truncated.dcm"})
        QFile::copy(corpus + QLatin1Char('/') + QLatin1String(f), src + QStringLiteral("/dicom/") + QLatin1String(f));
    QFile notes(src + QStringLiteral("/dicom/README.txt"));
    if (notes.open(QIODevice::WriteOnly))
        notes.write("Scanned with protocol B.\n");
    notes.close();

    medsiam::ui::MainWindow w;
    w.resize(1500, 920);
    w.show();
    if (!w.createProject(work + QStringLiteral("/Chest.medsiam"), 128))
        return 1;
    medsiam::ui::ImportDialog* d = w.showImportDialog({src});
    d->importButton()->click();
    if (!waitFor([d] { return !d->running(); }, 120000)) {
        std::fprintf(stderr, "the import did not finish\n");
        return 1;
    }
    settle(300);
    bool ok = save(d, out + QStringLiteral("/import-issues.png"));
    d->close();

    // The user guide's steps and the Help menu: New Project, Splits, Keyboard Shortcuts, About.
    {
        medsiam::ui::NewProjectDialog np(&w);
        np.show();
        settle(300);
        ok &= save(&np, out + QStringLiteral("/new-project.png"));
        np.reject();
        medsiam::ui::SplitsDialog sd(*w.session(), &w);
        sd.resize(760, 600);
        sd.show();
        sd.plan();
        settle(300);
        ok &= save(&sd, out + QStringLiteral("/splits.png"));
        sd.reject(); // shown, not applied
        medsiam::ui::ShortcutsDialog* keys = w.showShortcuts();
        keys->resize(640, 760);
        settle(300);
        ok &= save(keys, out + QStringLiteral("/shortcuts.png"));
        keys->close();
        medsiam::ui::AboutDialog* about = w.showAbout();
        settle(300);
        ok &= save(about, out + QStringLiteral("/about.png"));
        about->close();
    }

    // Train > Train a Classifier: what the project has, then the result of a "best" chain of
    // two minutes in plain words. MEDSIAM_SCREENSHOTS_GUIDED_ONLY=1 stops after these two.
    {
        medsiam::core::configureThreads(0);
        medsiam::ui::TrainClassifierDialog* g = w.showTrainClassifier();
        if (!g)
            return 1;
        g->resize(760, 720);
        g->budget()->setValue(2);
        g->best()->setChecked(true);
        settle(500);
        ok &= save(g, out + QStringLiteral("/train-classifier.png"));
        bool done = false;
        QObject::connect(g, &medsiam::ui::TrainClassifierDialog::finished, [&] { done = true; });
        if (!g->start() || !waitFor([&] { return done; }, 600000)) {
            std::fprintf(stderr, "the guided classifier did not finish\n");
            return 1;
        }
        settle(500);
        ok &= save(g, out + QStringLiteral("/train-classifier-result.png"));
        std::printf("guided classifier: %s\n", qPrintable(g->resultText()));
        g->close();
        if (qEnvironmentVariableIntValue("MEDSIAM_SCREENSHOTS_GUIDED_ONLY") == 1)
            return ok ? 0 : 1;
    }

    // The browser: chest X-rays with their classes and splits.
    medsiam::ui::BrowserView* b = w.browser();
    settle(500);
    b->showImage(w.session()->rows()[7].imageId);
    waitFor([&] { return !w.viewer()->loading(); }, 10000);
    settle(800);
    ok &= save(&w, out + QStringLiteral("/browser.png"));

    // Labeling: the test split sorted by class, five images selected and labeled with key 1.
    medsiam::ui::BrowserFilter f;
    f.split = QStringLiteral("test");
    b->setFilter(f);
    settle(300);
    QListView* list = b->listView();
    list->setFocus();
    b->showImage(b->model()->imageIdAt(8));
    for (int r = 9; r <= 12; ++r)
        list->selectionModel()->select(b->model()->index(r), QItemSelectionModel::Select);
    for (QAction* a : w.findChildren<QAction*>())
        if (a->shortcut() == QKeySequence(QStringLiteral("1")))
            a->trigger();
    waitFor([&] { return !w.viewer()->loading(); }, 10000);
    settle(800);
    ok &= save(&w, out + QStringLiteral("/labeling.png"));

    // The viewer: a CT slice from its DICOM source in a soft-tissue window, with its tags.
    int64_t ct = -1;
    for (const auto& r : w.session()->rows())
        if (r.relativePath.find("CT_small") != std::string::npos)
            ct = r.imageId;
    b->setFilter({});
    b->showImage(ct);
    waitFor([&] { return !w.viewer()->loading(); }, 10000);
    if (auto* presets = w.viewer()->findChild<QComboBox*>())
        Q_EMIT presets->activated(4); // soft tissue
    settle(800);
    ok &= save(&w, out + QStringLiteral("/viewer.png"));

    // Training: a short SimSiam run of bit-nano through the training panel, its curves live.
    medsiam::core::configureThreads(0);
    std::string run;
    {
        auto p = medsiam::core::Project::open(w.session()->dir().toStdString());
        medsiam::core::PretrainConfig c;
        c.model.backbone = medsiam::core::backbonePreset("bit-nano");
        c.model.backbone.inChannels = 1;
        c.model.simsiamHeads = true;
        c.model.heads = medsiam::core::defaultHeads(c.model.backbone);
        c.steps = 150;
        c.batch = 64;
        c.inputSize = 32;
        c.checkpointEvery = 50;
        c.monitorEvery = 25;
        run = medsiam::core::PretrainJob::create(*p, c);
    }
    w.showTraining();
    auto* trainingDock = w.findChild<QDockWidget*>(QStringLiteral("trainingDock"));
    w.resizeDocks({trainingDock}, {480}, Qt::Vertical);
    medsiam::ui::TrainingPanel* training = w.trainingPanel();
    bool trained = false;
    QObject::connect(training, &medsiam::ui::TrainingPanel::runFinished, [&] { trained = true; });
    training->startRun(QString::fromStdString(run), medsiam::ui::TrainingJob::Kind::Pretrain);
    if (!waitFor([&] { return trained; }, 600000)) {
        std::fprintf(stderr, "the training did not finish\n");
        return 1;
    }
    settle(800);
    ok &= save(&w, out + QStringLiteral("/training.png"));

    // Classification results: fine-tuning from that SimSiam run, its test confusion matrix and
    // the normal images it called pneumonia.
    {
        auto p = medsiam::core::Project::open(w.session()->dir().toStdString());
        medsiam::core::FinetuneConfig c;
        c.model.backbone = medsiam::core::backbonePreset("bit-nano");
        c.model.backbone.inChannels = 1;
        c.model.backbone.numClasses = 2;
        c.initWeights = medsiam::core::RunStore(*p).lastCheckpoint(run);
        c.steps = 150;
        c.batch = 64;
        c.microBatch = 64;
        c.lr = 0.1; // at batch 512: 0.0125 here
        c.crop = 32;
        c.balancedSampler = true;
        const std::string tuned = medsiam::core::FinetuneJob::create(*p, c);
        trained = false;
        training->startRun(QString::fromStdString(tuned), medsiam::ui::TrainingJob::Kind::Finetune);
        if (!waitFor([&] { return trained; }, 600000)) {
            std::fprintf(stderr, "the fine-tuning did not finish\n");
            return 1;
        }
        w.showResults();
        medsiam::ui::ResultsPanel* results = w.resultsPanel();
        results->refreshRuns();
        results->selectRun(QString::fromStdString(tuned));
        results->selectSplit(QStringLiteral("test"));
        results->confusion()->setCurrentCell(0, 1);
        results->showCell(0, 1);
        bool explained = false;
        QObject::connect(results, &medsiam::ui::ResultsPanel::explained, [&] { explained = true; });
        if (QListWidget* list = results->cellImages(); list->count() > 0) { // the most confident error, viewed
            list->setCurrentRow(0);
            Q_EMIT list->itemActivated(list->item(0));
            waitFor([&] { return explained; }, 60000);
        }
        waitFor([&] { return !w.viewer()->loading(); }, 10000);
        settle(800);
        ok &= save(&w, out + QStringLiteral("/results.png"));

        // The review queue: 60 test images without their labels (held out from training, so the
        // classifier is unsure of some), classified and listed least certain first.
        QVector<qint64> unlabel;
        for (const auto& r : w.session()->rows())
            if (r.split == "test" && r.classId > 0 && unlabel.size() < 60)
                unlabel.push_back(r.imageId);
        w.session()->labelImages(unlabel, 0);
        medsiam::ui::ReviewDialog* review = w.showReview(false);
        review->selectRun(QString::fromStdString(tuned));
        review->predictUnlabeled();
        waitFor([&] { return !review->busy(); }, 120000);
        settle(300);
        review->acceptCurrent(); // the first one accepted: struck through in the queue
        waitFor([&] { return review->captionText().startsWith(QStringLiteral("Image")); }, 60000);
        settle(800);
        ok &= save(review, out + QStringLiteral("/review.png"));
        review->close();
        w.session()->undoStack()->undo(); // the accepted label
        w.session()->undoStack()->undo(); // the 60 labels back
    }

    // The embedding map of the SimSiam run, the viewer on a clicked dot.
    w.showMap();
    auto* mapDock = w.findChild<QDockWidget*>(QStringLiteral("mapDock"));
    w.resizeDocks({mapDock}, {560}, Qt::Vertical);
    medsiam::ui::MapPanel* map = w.mapPanel();
    map->refreshRuns();
    map->selectRun(QString::fromStdString(run));
    bool mapped = false;
    QObject::connect(map, &medsiam::ui::MapPanel::computationFinished, [&] { mapped = true; });
    map->compute(false);
    if (!waitFor([&] { return mapped; }, 300000)) {
        std::fprintf(stderr, "the map did not finish\n");
        return 1;
    }
    settle(300);
    const auto& rows = w.session()->rows();
    const int64_t picked = rows[rows.size() / 3].imageId;
    Q_EMIT map->view()->imageActivated(picked);
    map->view()->setSelectedImageIds({picked});
    waitFor([&] { return !w.viewer()->loading(); }, 10000);
    settle(800);
    ok &= save(&w, out + QStringLiteral("/map.png"));

    // The transfer experiment from Train > New Experiment, and its result: by default a short one
    // run here (25 s per SimSiam arm); with MEDSIAM_EXPERIMENT_PROJECT, the latest experiment of
    // that project (e.g. the one bench/transfer_experiment.sh kept) is opened and shown instead.
    const QString experimentProject = qEnvironmentVariable("MEDSIAM_EXPERIMENT_PROJECT");
    if (!experimentProject.isEmpty()) {
        auto p = medsiam::core::Project::open(experimentProject.toStdString(), medsiam::core::ProjectAccess::ReadOnly);
        const auto ids = medsiam::core::listExperiments(*p);
        if (ids.empty()) {
            std::fprintf(stderr, "%s has no experiment\n", qPrintable(experimentProject));
            return 1;
        }
        medsiam::ui::ExperimentDialog d(experimentProject);
        d.resize(1280, 860);
        d.show();
        d.showExperiment(QString::fromStdString(ids.front()));
        settle(800);
        ok &= save(&d, out + QStringLiteral("/experiment.png"));
        QStringList arms;
        for (const auto& st : medsiam::core::readExperimentStages(*p, ids.front()))
            if (st.stage == "simsiam")
                arms << QString::fromStdString(st.run);
        medsiam::ui::CompareRunsDialog c(*p, arms);
        c.resize(1280, 860);
        c.setCurve(medsiam::core::CurveMetric::KnnBalancedAccuracy, medsiam::core::CurveAxis::Seconds);
        c.show();
        settle(800);
        ok &= save(&c, out + QStringLiteral("/compare-runs.png"));
    } else {
        medsiam::ui::ExperimentDialog* d = w.showExperiment();
        d->resize(1280, 860);
        d->budgetMinutes()->setValue(0);
        d->budgetSeconds()->setValue(25);
        d->finetune()->setChecked(false);
        bool finished = false;
        QString id;
        QObject::connect(d, &medsiam::ui::ExperimentDialog::experimentFinished, [&](const QString& e) {
            finished = true;
            id = e;
        });
        if (!d->start() || !waitFor([&] { return finished; }, 900000)) {
            std::fprintf(stderr, "the experiment did not finish\n");
            return 1;
        }
        settle(800);
        ok &= save(d, out + QStringLiteral("/experiment.png"));
        d->close();

        // Compare Runs: the experiment's SimSiam arms, kNN balanced accuracy by training time.
        QStringList arms;
        auto p = medsiam::core::Project::open(w.session()->dir().toStdString(), medsiam::core::ProjectAccess::ReadOnly);
        for (const auto& st : medsiam::core::readExperimentStages(*p, id.toStdString()))
            if (st.stage == "simsiam")
                arms << QString::fromStdString(st.run);
        auto* c = new medsiam::ui::CompareRunsDialog(w.session()->project(), arms, &w);
        c->resize(1280, 860);
        c->setCurve(medsiam::core::CurveMetric::KnnBalancedAccuracy, medsiam::core::CurveAxis::Seconds);
        c->show();
        settle(800);
        ok &= save(c, out + QStringLiteral("/compare-runs.png"));
        c->close();
    }
#ifdef MEDSIAM_SCREENSHOT_PACS
    ok &= pacsScreenshot(out, work, corpus);
#endif
    return ok ? 0 : 1;
}
