// The training engine as a user relies on it: SimSiam's loss falls, the collapse monitor tells
// a collapsing run from a healthy one, cancel is prompt, a killed run resumes to exactly the
// weights of an uninterrupted one, the probe gives metrics, and the metrics are right.
#include "TestSupport.h"

#include "analysis/Embeddings.h"
#include "eval/Metrics.h"
#include "analysis/Suggestions.h"
#include "io/TensorFile.h"
#include "project/Project.h"
#include "project/RunStore.h"
#include "system/Runtime.h"
#include "train/FinetuneJob.h"
#include "train/LinearProbe.h"
#include "train/PretrainJob.h"
#include "train/TrainUtil.h"
#include "util/AtomicFile.h"
#include "util/Error.h"

#include <ATen/ATen.h>

#include <QDir>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QImage>
#include <QList>
#include <QTemporaryDir>
#include <QThread>
#include <QElapsedTimer>
#include <QtTest>

#include <cmath>
#include <csignal>
#include <functional>
#include <new>
#include <numeric>
#include <stdexcept>
#include <thread>

using namespace medsiam::core;

namespace {

QString makeProject(const QString& dir) { return medsiam::test::makeShapesProject(dir, QStringLiteral(MEDSIAM_CLI)); }

PretrainConfig smallConfig()
{
    PretrainConfig c;
    c.model.backbone = backbonePreset("bit-nano");
    c.model.backbone.inChannels = 1;
    c.model.simsiamHeads = true;
    c.model.heads = defaultHeads(c.model.backbone);
    c.steps = 30;
    c.batch = 32;
    c.inputSize = 32;
    c.checkpointEvery = 10;
    c.seed = 11;
    return c;
}

/// A fine-tune of a tiny GroupNorm network on the shapes project (gray, two classes).
FinetuneConfig smallFinetune()
{
    FinetuneConfig c;
    c.model.backbone = backbonePreset("bit-nano");
    c.model.backbone.inChannels = 1;
    c.model.backbone.numClasses = 2;
    return c;
}

struct Recorder : JobObserver {
    std::vector<StepEvent> steps;
    std::vector<MonitorEvent> monitors;
    std::vector<std::string> warnings;
    JobState last = JobState::Queued;
    std::string message;
    std::function<void(const StepEvent&)> onStep;
    void step(const StepEvent& e) override
    {
        steps.push_back(e);
        if (onStep)
            onStep(e);
    }
    void monitor(const MonitorEvent& e) override { monitors.push_back(e); }
    void warning(const std::string& m) override { warnings.push_back(m); }
    void stateChanged(JobState s, const std::string& m) override
    {
        last = s;
        message = m;
    }
};

/// Runs the run `id` (a PretrainJob's or a FinetuneJob's) to its end; its last checkpoint, or
/// nothing when it did not complete.
template<class Job>
TensorFile trainedWeights(Project& project, const std::string& id)
{
    Job job(project, id);
    Recorder r;
    JobControl control;
    if (job.run(r, control) != JobState::Completed)
        return {};
    return readTensorFile(RunStore(project).dir(id) + "/checkpoints/last.safetensors");
}

/// Runs a pretraining run, cancelling it when step `step` is done.
JobState runCancellingAt(Project& project, const std::string& id, int64_t step, Recorder& r)
{
    PretrainJob job(project, id);
    JobControl control;
    r.onStep = [&](const StepEvent& e) {
        if (e.step == step)
            control.cancel();
    };
    return job.run(r, control);
}

std::vector<QJsonObject> metricsLines(const QString& runDir)
{
    std::vector<QJsonObject> out;
    QFile f(runDir + "/metrics.jsonl");
    if (!f.open(QIODevice::ReadOnly))
        return out;
    for (const QByteArray& line : f.readAll().split('\n'))
        if (!line.isEmpty())
            out.push_back(QJsonDocument::fromJson(line).object());
    return out;
}

std::vector<int> stepNumbers(const QString& runDir)
{
    std::vector<int> steps;
    for (const auto& o : metricsLines(runDir))
        if (o["type"].toString() == "step")
            steps.push_back(o["step"].toInt());
    return steps;
}

} // namespace

class TestTraining : public QObject {
    Q_OBJECT
    QTemporaryDir m_tmp;
    QString m_project;

private Q_SLOTS:
    void initTestCase()
    {
        configureThreads(2);
        m_project = makeProject(m_tmp.path());
        QVERIFY2(!m_project.isEmpty(), "could not build the synthetic project");
    }

    /// A step that runs out of memory ends with the largest batch that fits, found in a few
    /// passes; the allocators' errors are told from every other error.
    void outOfMemoryNamesTheLargestBatchThatFits()
    {
        bool recognised = false;
        try {
            at::empty({int64_t(1) << 60}, at::kByte); // the CPU allocator's own error
        } catch (const std::exception& e) {
            recognised = isOutOfMemory(e);
        }
        QVERIFY(recognised);
        QVERIFY(isOutOfMemory(std::bad_alloc()));
        QVERIFY(isOutOfMemory(std::runtime_error("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.15 GiB total capacity)")));
        QVERIFY(!isOutOfMemory(std::runtime_error("shape '[2, 3]' is invalid for input of size 5")));
        for (int limit : {1, 2, 37, 100, 127, 128, 255}) {
            int passes = 0;
            const int fits = largestFittingBatch(256, [&](int n) {
                ++passes;
                if (n > limit)
                    throw std::runtime_error("CUDA out of memory. Tried to allocate 512.00 MiB");
            });
            QVERIFY2(fits <= limit && limit < fits + std::max(1, fits / 8), qPrintable(QString("limit %1, found %2").arg(limit).arg(fits)));
            QVERIFY2(passes <= 12, qPrintable(QString("%1 passes").arg(passes)));
        }
        QCOMPARE(largestFittingBatch(256, [](int) { throw std::runtime_error("DefaultCPUAllocator: not enough memory"); }), 0);
        QVERIFY_EXCEPTION_THROWN(largestFittingBatch(64,
                                                     [](int n) {
                                                         if (n < 40)
                                                             throw UserError("cache entry 3 is unreadable");
                                                         throw std::runtime_error("out of memory");
                                                     }),
                                 UserError);
        const auto fix = [](int n) { return "run with --batch " + std::to_string(n); };
        QCOMPARE(outOfMemoryMessage("cuda:0", "view", 256, 96, fix),
                 std::string("out of memory on cuda:0 with 256 images per view; the largest that fits is 96: run with --batch 96"));
        QVERIFY(outOfMemoryMessage("cpu", "view", 2, 0, fix).find("not even one image fits") != std::string::npos);
    }

    /// A run's embeddings are computed at the size it trained at: a SimSiam run's input size; a
    /// fine-tuned run's crop, which the BiT-HyperRule chooses when the run left it open.
    void embeddingsUseTheSizeARunTrainedAt()
    {
        auto project = Project::open(m_project.toStdString());
        PretrainConfig pre = smallConfig();
        pre.inputSize = 48;
        QCOMPARE(runInputSize(*project, PretrainJob::create(*project, pre)), 48);
        FinetuneConfig c = smallFinetune();
        c.steps = 4;
        c.batch = 8;
        const std::string open = FinetuneJob::create(*project, c); // crop 0: the HyperRule's
        qInfo("fine-tuning run without a crop: embedded at %d px, evaluated at %d px", runInputSize(*project, open),
              evaluationSize(*project, open));
        QCOMPARE(runInputSize(*project, open), evaluationSize(*project, open));
        c.crop = 24;
        QCOMPARE(runInputSize(*project, FinetuneJob::create(*project, c)), 24);
    }

    void embeddingsAndLabelSuggestions()
    {
        auto project = Project::open(m_project.toStdString());
        PretrainConfig c = smallConfig();
        c.steps = 20;
        const std::string id = PretrainJob::create(*project, c);
        PretrainJob job(*project, id);
        Recorder r;
        JobControl control;
        QCOMPARE(job.run(r, control), JobState::Completed);
        const EmbeddingSet set = computeEmbeddings(*project, id, 32);
        QCOMPARE(set.count(), int64_t(240));
        QCOMPARE(set.dims, int64_t(128));
        QCOMPARE(set.vectors.size(), size_t(240 * 128));
        QCOMPARE(set.checkpointStep, int64_t(20));
        // Stored and read back exactly.
        const EmbeddingSet back = RunStore(*project).loadEmbeddings(id);
        QCOMPARE(back.imageIds, set.imageIds);
        QVERIFY(back.vectors == set.vectors);
        QCOMPARE(back.dims, set.dims);
        // Held-back labels: the neighbours' vote beats guessing the majority class.
        const SuggestionCheck check = checkSuggestions(*project, set, 10, 5);
        qInfo("suggestions on %lld held-back images: %.3f accurate (majority guess %.3f)", static_cast<long long>(check.heldBack),
              check.accuracy, check.majorityAccuracy);
        QCOMPARE(check.heldBack, int64_t(48));
        QVERIFY(check.accuracy > check.majorityAccuracy + 0.1);
        // Every image is labeled here: nothing to suggest.
        QVERIFY(suggestLabels(*project, set).empty());
        // The CSV export: ids, split, class and features, nothing about patients.
        QTemporaryDir tmp;
        const QString csv = tmp.path() + "/emb.csv";
        writeEmbeddingsCsv(*project, set, csv.toStdString());
        QFile f(csv);
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QList<QByteArray> lines = f.readAll().split('\n');
        QVERIFY(lines.front().startsWith("image_id,split,class,f0,f1,"));
        QVERIFY(!lines.front().contains("atient"));
        QCOMPARE(lines.size(), 242); // header, 240 rows, final newline
        QVERIFY(lines[1].split(',').size() == 3 + 128);
    }

    void metricsMatchHandComputedValues()
    {
        // AUC with ties: positives score 0.4 and 0.8, negatives 0.1 and 0.4. Pairs: 1 + 0.5 + 1 + 1 = 3.5 of 4.
        QCOMPARE(rocAuc({0, 0, 1, 1}, {0.1f, 0.4f, 0.4f, 0.8f}), 0.875);
        QVERIFY(std::isnan(rocAuc({1, 1}, {0.2f, 0.3f})));
        // Three classes, none of class 2 in the truth; one sample predicted as class 2.
        // truth:      0    0    1    1    1
        // prediction: 0    2    1    1    0
        const std::vector<int> truth{0, 0, 1, 1, 1};
        const std::vector<float> p{0.8f, 0.1f, 0.1f, /**/ 0.3f, 0.2f, 0.5f, /**/ 0.1f, 0.8f, 0.1f, /**/ 0.2f, 0.7f, 0.1f, /**/ 0.6f, 0.3f, 0.1f};
        const auto m = computeMetrics(truth, p, 3);
        QCOMPARE(m.accuracy, 3.0 / 5.0);
        QCOMPARE(m.balancedAccuracy, (1.0 / 2.0 + 2.0 / 3.0) / 2.0); // class 2 has no true samples: left out
        QCOMPARE(m.precision[0], 1.0 / 2.0);
        QCOMPARE(m.recall[1], 2.0 / 3.0);
        QCOMPARE(m.precision[2], 0.0);
        QCOMPARE(m.confusion[0][2], int64_t(1));
        QCOMPARE(m.confusion[1][0], int64_t(1));
        // Class 0 vs rest on its scores: positives 0.8, 0.3; negatives 0.1, 0.2, 0.6 -> (3 + 2) / 6.
        QCOMPARE(m.auc[0], 5.0 / 6.0);
        QVERIFY(std::isnan(m.auc[2]));
        QCOMPARE(m.macroAuc, (m.auc[0] + m.auc[1]) / 2);
        QVERIFY(QString::fromStdString([&] {
                    try {
                        computeMetrics({0, 3}, {0.5f, 0.5f, 0.5f, 0.5f}, 2);
                    } catch (const UserError& e) {
                        return std::string(e.what());
                    }
                    return std::string();
                }()).contains("label 3 is out of range"));
    }

    void simsiamLossFalls()
    {
        auto project = Project::open(m_project.toStdString());
        PretrainConfig c = smallConfig();
        c.steps = 60;
        c.baseLr = 1.0;
        const std::string id = PretrainJob::create(*project, c);
        PretrainJob job(*project, id);
        Recorder r;
        JobControl control;
        QCOMPARE(job.run(r, control), JobState::Completed);
        QCOMPARE(int(r.steps.size()), 60);
        double first = 0, last = 0;
        for (int i = 0; i < 10; ++i) {
            first += r.steps[static_cast<size_t>(i)].loss / 10;
            last += r.steps[r.steps.size() - 1 - static_cast<size_t>(i)].loss / 10;
        }
        qInfo("SimSiam loss: first 10 steps %.4f, last 10 steps %.4f; collapse std %.4f (healthy %.4f)", first, last,
              r.steps.back().collapseStd, r.steps.back().collapseHealthy);
        QVERIFY2(last < first - 0.05, qPrintable(QString("%1 -> %2").arg(first).arg(last)));
        QVERIFY(r.warnings.empty());
        QVERIFY(!r.monitors.empty()); // the kNN monitor ran on the labeled train/val images
        QVERIFY(r.monitors.back().knnAccuracy > 0.5);
        const QString dir = QString::fromStdString(RunStore(*project).dir(id));
        QVERIFY(QFile::exists(dir + "/summary.json"));
        QVERIFY(QFile::exists(dir + "/checkpoints/last.safetensors"));
        bool found = false;
        for (const auto& run : project->runs())
            found = found || (run.id == id && run.state == "completed");
        QVERIFY(found);
    }

    void collapseMonitorTellsCollapseFromHealth()
    {
        auto project = Project::open(m_project.toStdString());
        for (bool stopGradient : {false, true}) {
            PretrainConfig c = smallConfig();
            c.steps = 60;
            c.baseLr = 2.0;
            c.stopGradient = stopGradient;
            const std::string id = PretrainJob::create(*project, c);
            PretrainJob job(*project, id);
            Recorder r;
            JobControl control;
            QCOMPARE(job.run(r, control), JobState::Completed);
            qInfo("stop-gradient %s: final std %.4f (healthy %.4f), loss %.4f, %zu warnings", stopGradient ? "on" : "off",
                  r.steps.back().collapseStd, r.steps.back().collapseHealthy, r.steps.back().loss, r.warnings.size());
            if (stopGradient) {
                QVERIFY(r.warnings.empty());
            } else {
                QCOMPARE(int(r.warnings.size()), 1);
                QVERIFY(QString::fromStdString(r.warnings.front()).startsWith("collapse:"));
            }
        }
    }

    void cancelStopsWithinOneBatch()
    {
        auto project = Project::open(m_project.toStdString());
        const std::string id = PretrainJob::create(*project, smallConfig());
        Recorder r;
        QCOMPARE(runCancellingAt(*project, id, 7, r), JobState::Cancelled);
        QCOMPARE(int(r.steps.size()), 7); // not one batch more
        QCOMPARE(PretrainJob(*project, id).resumeStep(), int64_t(7));
        QCOMPARE(stepNumbers(QString::fromStdString(RunStore(*project).dir(id))).size(), size_t(7));
        // Pause holds the job between batches until resumed.
        PretrainJob again(*project, id);
        JobControl control2;
        control2.pause();
        Recorder r2;
        std::thread resumer([&] {
            QThread::msleep(300);
            QCOMPARE(int(r2.steps.size()), 0);
            control2.resume();
        });
        QCOMPARE(again.run(r2, control2), JobState::Completed);
        resumer.join();
        QCOMPARE(r2.steps.front().step, int64_t(8));
        std::vector<int> expected(30);
        std::iota(expected.begin(), expected.end(), 1);
        QCOMPARE(stepNumbers(QString::fromStdString(RunStore(*project).dir(id))), expected);
    }

    /// A run whose config.json no longer describes its checkpoint's model is not resumed into a
    /// mixture: it fails with a reason, its record says so, and its checkpoint is left as it was.
    void resumeRefusesAnotherModel()
    {
        auto project = Project::open(m_project.toStdString());
        const std::string id = PretrainJob::create(*project, smallConfig());
        Recorder cancelled;
        QCOMPARE(runCancellingAt(*project, id, 3, cancelled), JobState::Cancelled);
        QVERIFY2(QString::fromStdString(cancelled.message).contains("stopped after step 3, with its checkpoint"), cancelled.message.c_str());
        PretrainConfig edited = smallConfig();
        edited.model.heads.projectorDim *= 2;
        writeFileAtomically(RunStore(*project).dir(id) + "/config.json", edited.toJson());
        PretrainJob job(*project, id);
        Recorder r;
        JobControl control;
        QCOMPARE(job.run(r, control), JobState::Failed);
        QCOMPARE(r.last, JobState::Failed);
        QVERIFY2(QString::fromStdString(r.message).contains("describes another model"), r.message.c_str());
        QVERIFY(r.steps.empty());
        QCOMPARE(job.resumeStep(), int64_t(3));
        bool recorded = false;
        for (const auto& run : project->runs())
            if (run.id == id) {
                QCOMPARE(QString::fromStdString(run.state), QString("failed"));
                QVERIFY(QString::fromStdString(run.summary).contains("describes another model"));
                recorded = true;
            }
        QVERIFY(recorded);
    }

    void killedRunResumesToTheSameWeights()
    {
        const QStringList common{"--backbone", "bit-tiny", "--in-channels", "1", "--size", "64", "--batch", "32", "--steps", "40",
                                 "--checkpoint-every", "5", "--seed", "5", "--threads", "2"};
        // The uninterrupted run.
        QProcess a;
        a.start(QStringLiteral(MEDSIAM_CLI), QStringList{"pretrain", m_project} + common);
        QVERIFY(a.waitForFinished(300000));
        QCOMPARE(a.exitCode(), 0);
        // The same run, killed with SIGKILL half-way, then resumed.
        const QString runs = m_project + "/runs";
        const QStringList before = QDir(runs).entryList(QDir::Dirs | QDir::NoDotAndDotDot);
        QProcess b;
        b.start(QStringLiteral(MEDSIAM_CLI), QStringList{"pretrain", m_project} + common);
        QVERIFY(b.waitForStarted());
        QString runB;
        QElapsedTimer waited; // by the clock: a loaded machine makes each step slower, not the poll
        waited.start();
        while (waited.elapsed() < 240000 && b.state() == QProcess::Running) {
            QThread::msleep(10);
            for (const QString& d : QDir(runs).entryList(QDir::Dirs | QDir::NoDotAndDotDot))
                if (!before.contains(d))
                    runB = d;
            if (!runB.isEmpty() && stepNumbers(runs + "/" + runB).size() >= 17)
                break;
        }
        QVERIFY2(b.state() == QProcess::Running, "the run ended before it could be killed");
        ::kill(static_cast<pid_t>(b.processId()), SIGKILL);
        QVERIFY(b.waitForFinished(30000));
        const size_t stepsAtKill = stepNumbers(runs + "/" + runB).size();
        QVERIFY(stepsAtKill >= 17 && stepsAtKill < 40);
        QProcess resume;
        resume.start(QStringLiteral(MEDSIAM_CLI), {"resume", m_project, runB, "--threads", "2"});
        QVERIFY(resume.waitForFinished(300000));
        const QString resumeLog = QString::fromUtf8(resume.readAllStandardError());
        QVERIFY2(resume.exitCode() == 0, qPrintable(resumeLog));
        QVERIFY2(resumeLog.contains("resuming run " + runB + " from step 15"), qPrintable(resumeLog));
        // metrics.jsonl: every step exactly once.
        std::vector<int> expected(40);
        std::iota(expected.begin(), expected.end(), 1);
        QCOMPARE(stepNumbers(runs + "/" + runB), expected);
        // The final weights equal the uninterrupted run's, bit for bit.
        const QStringList all = QDir(runs).entryList({"simsiam-*"}, QDir::Dirs, QDir::Name);
        const QString runA = all.at(all.indexOf(runB) - 1);
        const TensorFile fa = readTensorFile((runs + "/" + runA + "/checkpoints/last.safetensors").toStdString());
        const TensorFile fb = readTensorFile((runs + "/" + runB + "/checkpoints/last.safetensors").toStdString());
        QCOMPARE(fa.metadata.at("step"), std::string("40"));
        QCOMPARE(fb.metadata.at("step"), std::string("40"));
        QCOMPARE(fa.tensors.size(), fb.tensors.size());
        int compared = 0;
        for (const auto& t : fa.tensors) {
            const RawTensor* u = fb.find(t.name);
            QVERIFY2(u, t.name.c_str());
            QVERIFY2(u->data == t.data, (t.name + " differs").c_str());
            ++compared;
        }
        qInfo("killed after %zu steps, resumed from 15: %d tensors equal bit for bit", stepsAtKill, compared);
    }

    void hyperRuleFollowsDatasetSize_data()
    {
        QTest::addColumn<int>("examples");
        QTest::addColumn<int>("warmup");
        QTest::addColumn<QList<int>>("decays");
        QTest::addColumn<int>("total");
        QTest::addColumn<double>("mixup");
        QTest::newRow("1k") << 1000 << 100 << QList<int>{200, 300, 400} << 500 << 0.0;
        QTest::newRow("19,999") << 19999 << 100 << QList<int>{200, 300, 400} << 500 << 0.0;
        QTest::newRow("20k") << 20000 << 500 << QList<int>{3000, 6000, 9000} << 10000 << 0.1;
        QTest::newRow("50k") << 50000 << 500 << QList<int>{3000, 6000, 9000} << 10000 << 0.1;
        QTest::newRow("1M") << 1000000 << 500 << QList<int>{6000, 12000, 18000} << 20000 << 0.1;
    }
    void hyperRuleFollowsDatasetSize()
    {
        QFETCH(int, examples);
        QFETCH(int, warmup);
        QFETCH(QList<int>, decays);
        QFETCH(int, total);
        QFETCH(double, mixup);
        const HyperRule r = bitHyperRule(examples, 28, 28);
        QCOMPARE(r.warmupSteps, int64_t(warmup));
        QCOMPARE(r.totalSteps, int64_t(total));
        QCOMPARE(r.mixupAlpha, mixup);
        QCOMPARE(int(r.decaySteps.size()), decays.size());
        for (int i = 0; i < decays.size(); ++i)
            QCOMPARE(r.decaySteps[static_cast<size_t>(i)], int64_t(decays[i]));
        // The schedule a run follows: linear warmup, then x0.1 at each decay, as fractions of the run.
        FinetuneConfig c;
        const FinetuneSchedule s = finetuneSchedule(c, examples, 28, 28, 512);
        QCOMPARE(s.totalSteps, int64_t(total));
        const auto lrAt = [&](const FinetuneSchedule& f, int64_t step) { return 0.003 * f.lr.factor(double(step) / double(f.totalSteps), f.totalSteps); };
        QVERIFY(std::abs(lrAt(s, 0) - 0.003 / warmup) < 1e-12);
        QVERIFY(std::abs(lrAt(s, warmup - 1) - 0.003) < 1e-12);
        QVERIFY(std::abs(lrAt(s, decays[0] - 1) - 0.003) < 1e-12);
        QVERIFY(std::abs(lrAt(s, decays[0]) - 0.0003) < 1e-12);
        QVERIFY(std::abs(lrAt(s, total - 1) - 0.000003) < 1e-12);
        // Resolution: small images -> 160/128, large -> 512/480; a 64 px cache caps the crop.
        QCOMPARE(s.crop, 128);
        QCOMPARE(s.resize, 160);
        QCOMPARE(bitHyperRule(examples, 512, 512).crop, 480);
        QCOMPARE(finetuneSchedule(c, examples, 28, 28, 64).crop, 64);
        QCOMPARE(finetuneSchedule(c, examples, 28, 28, 64).resize, 80);
        // A shorter run keeps the rule's shape.
        c.steps = total / 10;
        const FinetuneSchedule shortRun = finetuneSchedule(c, examples, 28, 28, 512);
        QCOMPARE(shortRun.totalSteps, int64_t(total / 10));
        QVERIFY(std::abs(lrAt(shortRun, decays.front() / 10 - 1) - 0.003) < 1e-12);
        QVERIFY(std::abs(lrAt(shortRun, decays.front() / 10 + 1) - 0.0003) < 1e-12);
    }

    void microBatchesGiveTheFullBatchGradient()
    {
        // GroupNorm networks do not mix samples, so 4 micro-batches of 8 must take the same step as one of 32.
        auto project = Project::open(m_project.toStdString());
        std::vector<std::vector<uint8_t>> weights;
        for (int micro : {32, 8}) {
            FinetuneConfig c = smallFinetune();
            c.steps = 2;
            c.batch = 32;
            c.microBatch = micro;
            c.lr = 2.0;
            c.crop = 32;
            c.resize = 36;
            c.seed = 3;
            const std::string id = FinetuneJob::create(*project, c);
            FinetuneJob job(*project, id);
            Recorder r;
            JobControl control;
            QCOMPARE(job.run(r, control), JobState::Completed);
            const TensorFile f = readTensorFile(RunStore(*project).dir(id) + "/checkpoints/last.safetensors");
            weights.push_back(f.find("model.backbone.stages.1.blocks.0.conv2.weight")->data);
        }
        const auto* a = reinterpret_cast<const float*>(weights[0].data());
        const auto* b = reinterpret_cast<const float*>(weights[1].data());
        double maxDiff = 0, maxAbs = 0;
        for (size_t i = 0; i < weights[0].size() / 4; ++i) {
            maxDiff = std::max(maxDiff, double(std::abs(a[i] - b[i])));
            maxAbs = std::max(maxAbs, double(std::abs(a[i])));
        }
        qInfo("batch 32 in one pass vs 4 micro-batches: max weight difference %.3g (weights up to %.3g)", maxDiff, maxAbs);
        QVERIFY(maxDiff < 1e-5 * std::max(1.0, maxAbs));
    }

    /// A run that makes its next batch ahead, on another thread (as on a GPU), trains exactly the
    /// weights of one that makes each batch when its step comes: SimSiam, and a fine-tune in
    /// micro-batches (whose next micro-batch is the one made ahead).
    void prefetchingTrainsTheSameWeights()
    {
        auto project = Project::open(m_project.toStdString());
        const auto trained = [&](bool prefetch, bool simsiam) {
            qputenv("MEDSIAM_PREFETCH", prefetch ? "1" : "0");
            TensorFile weights;
            if (simsiam) {
                PretrainConfig c = smallConfig();
                c.steps = 4;
                weights = trainedWeights<PretrainJob>(*project, PretrainJob::create(*project, c));
            } else {
                FinetuneConfig c = smallFinetune();
                c.steps = 3;
                c.batch = 24;
                c.microBatch = 8;
                c.crop = 32;
                c.resize = 36;
                weights = trainedWeights<FinetuneJob>(*project, FinetuneJob::create(*project, c));
            }
            qunsetenv("MEDSIAM_PREFETCH");
            return weights;
        };
        for (bool simsiam : {true, false}) {
            const TensorFile a = trained(false, simsiam), b = trained(true, simsiam);
            QVERIFY(!a.tensors.empty());
            QCOMPARE(a.tensors.size(), b.tensors.size());
            for (const auto& t : a.tensors) {
                const RawTensor* u = b.find(t.name);
                QVERIFY2(u && u->data == t.data, (t.name + " differs with prefetching").c_str());
            }
        }
    }

    void finetuneLearnsAndStoresPredictions()
    {
        auto project = Project::open(m_project.toStdString());
        FinetuneConfig c = smallFinetune();
        c.steps = 40;
        c.batch = 32;
        c.lr = 1.0;
        c.crop = 32;
        c.classWeighted = true;
        const std::string id = FinetuneJob::create(*project, c);
        FinetuneJob job(*project, id);
        struct Evals : Recorder {
            std::vector<EvalEvent> evals;
            void evaluation(const EvalEvent& e) override { evals.push_back(e); }
        } obs;
        JobControl control;
        QCOMPARE(job.run(obs, control), JobState::Completed);
        QVERIFY(!obs.evals.empty());
        const auto& test = obs.evals.back();
        QCOMPARE(test.split, std::string("test"));
        qInfo("fine-tuned bit-nano on discs vs rings: test accuracy %.3f, AUC %.3f", test.metrics.accuracy, test.metrics.macroAuc);
        QVERIFY(test.metrics.accuracy > 0.8);
        auto count = project->db().prepare("SELECT COUNT(*) FROM predictions WHERE run_id=?");
        count.bind(1, id);
        QVERIFY(count.step());
        QCOMPARE(count.columnInt(0), int64_t(80));
        // evaluate reproduces the stored run's metrics from its checkpoint.
        const auto again = evaluateRun(*project, id);
        QCOMPARE(again.back().metrics.accuracy, test.metrics.accuracy);
#ifdef MEDSIAM_TEST_REPORT
        // The report: plots as PNG and SVG, predictions as CSV without patient data.
        QTemporaryDir out;
        QProcess report;
        report.start(QStringLiteral(MEDSIAM_CLI), {"report", m_project, QString::fromStdString(id), "--out", out.path()});
        QVERIFY(report.waitForFinished(120000));
        QVERIFY2(report.exitCode() == 0, report.readAllStandardError().constData());
        for (const char* f : {"loss.png", "loss.svg", "metrics.png", "confusion_test.png", "confusion_test.svg", "roc_test.png",
                              "roc_val.svg", "predictions.csv"})
            QVERIFY2(QFile::exists(out.path() + "/" + f), f);
        QImage roc(out.path() + "/roc_test.png");
        QVERIFY(!roc.isNull() && roc.width() > 500);
        QFile csv(out.path() + "/predictions.csv");
        QVERIFY(csv.open(QIODevice::ReadOnly));
        const QByteArray header = csv.readLine();
        QCOMPARE(header.trimmed(), QByteArray("image_id,split,truth,p_0,p_1"));
        QCOMPARE(csv.readAll().count('\n'), 80);
#endif
    }

    void probeGivesMetricsAndStoresPredictions()
    {
        auto project = Project::open(m_project.toStdString());
        ProbeConfig c;
        c.model.backbone = backbonePreset("bit-nano");
        c.model.backbone.inChannels = 1;
        c.inputSize = 32;
        Recorder r;
        const ProbeResult result = runLinearProbe(*project, c, r);
        QVERIFY(result.hasVal && result.hasTest);
        QCOMPARE(result.test.samples, int64_t(40));
        QCOMPARE(result.classNames.size(), size_t(2));
        qInfo("probe on random bit-nano features: test accuracy %.3f, AUC %.3f", result.test.accuracy, result.test.macroAuc);
        QVERIFY(result.test.macroAuc > 0.6); // discs vs rings are easy even for random features
        auto count = project->db().prepare("SELECT COUNT(*) FROM predictions WHERE run_id=?");
        count.bind(1, result.runId);
        QVERIFY(count.step());
        QCOMPARE(count.columnInt(0), int64_t(80)); // val + test
    }
};

QTEST_GUILESS_MAIN(TestTraining)
#include "TestTraining.moc"
