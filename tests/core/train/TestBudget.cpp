// Time budgets and model selection as a user meets them: "--budget 15s" ends in about 15 s with
// its schedule completed, a run killed with SIGKILL and resumed keeps to the time it had left,
// the checkpoint with the best validation score is the one evaluated, and the parts these rest
// on (durations, schedules, plans, the honest-results warnings) say what they should.
#include "TestSupport.h"

#include "eval/Metrics.h"
#include "project/Project.h"
#include "train/Budget.h"
#include "util/Error.h"

#include <algorithm>
#include <vector>

#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>

#include <csignal>
#include <cmath>

using namespace medsiam::core;

namespace {

QJsonObject readJson(const QString& path) { return medsiam::test::readJsonFile(path); }

std::vector<QJsonObject> metricsLines(const QString& runDir)
{
    std::vector<QJsonObject> out;
    QFile f(runDir + "/metrics.jsonl");
    if (!f.open(QIODevice::ReadOnly))
        return out;
    for (const QByteArray& line : f.readAll().split('\n'))
        if (!line.trimmed().isEmpty())
            out.push_back(QJsonDocument::fromJson(line).object());
    return out;
}

/// The run folders under `project`/runs that are not in `before`.
QString newRun(const QString& project, const QStringList& before)
{
    for (const QString& d : QDir(project + "/runs").entryList(QDir::Dirs | QDir::NoDotAndDotDot))
        if (!before.contains(d))
            return d;
    return {};
}

QStringList runsOf(const QString& project) { return QDir(project + "/runs").entryList(QDir::Dirs | QDir::NoDotAndDotDot); }

/// Fine-tunes 60 steps on `project` and checks that the checkpoint evaluated is the one with the
/// best validation AUC logged during training; returns which was selected ("best" or "last").
QString selectedAfter(const QString& project)
{
    const QStringList before = runsOf(project);
    QProcess cli;
    cli.start(QStringLiteral(MEDSIAM_CLI), {"finetune", project, "--steps", "60", "--batch", "32", "--lr", "0.01", "--threads", "2"});
    if (!cli.waitForFinished(300000))
        return "(timed out)";
    const QString out = QString::fromUtf8(cli.readAllStandardOutput());
    if (cli.exitCode() != 0) {
        qWarning("%s", qPrintable(out + cli.readAllStandardError()));
        return "(failed)";
    }
    const QString run = project + "/runs/" + newRun(project, before);
    const QJsonObject summary = readJson(run + "/summary.json");
    const QJsonObject selected = summary["selected"].toObject();
    const int selectedStep = selected["step"].toInt();
    // The best val AUC logged during training, and where it was first reached.
    double best = -1;
    int bestStep = -1;
    for (const auto& o : metricsLines(run))
        if (o["type"].toString() == "eval" && o["split"].toString() == "val") {
            const double auc = o["metrics"].toObject()["macro_auc"].toDouble();
            if (auc > best) {
                best = auc;
                bestStep = o["step"].toInt();
            }
        }
    const double reported = summary["val"].toObject()["macro_auc"].toDouble();
    qInfo("best val AUC %.4f at step %d; selected the %s checkpoint (step %d), its val AUC %.4f", best, bestStep,
          qPrintable(selected["checkpoint"].toString()), selectedStep, reported);
    // What is reported is the best checkpoint's score (the last one's only when it scores as well).
    if (bestStep <= 0 || std::abs(reported - best) > 1e-9)
        return "(reported " + QString::number(reported) + ", best " + QString::number(best) + ")";
    const QString checkpoint = selected["checkpoint"].toString();
    if (checkpoint == "best") {
        if (selectedStep != bestStep || !summary.contains("test_last") ||
            !out.contains(QString("model: the checkpoint with the best validation ROC AUC (step %1 of 60)").arg(bestStep)))
            return "(best, but not as said: " + out + ")";
    } else if (selectedStep != 60 || !out.contains("model: the last checkpoint (step 60)")) {
        return "(last, but not as said: " + out + ")";
    }
    // `runs` says the same, in words.
    QProcess runs;
    runs.start(QStringLiteral(MEDSIAM_CLI), {"runs", project});
    runs.waitForFinished(60000);
    const QString listing = QString::fromUtf8(runs.readAllStandardOutput());
    if (!listing.contains(QString("(step %1").arg(selectedStep)) || !listing.contains("  val "))
        return "(runs says: " + listing + ")";
    return checkpoint;
}

} // namespace

class TestBudget : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_tmp.isValid());
        m_project = medsiam::test::makeShapesProject(m_tmp.path(), QStringLiteral(MEDSIAM_CLI));
        QVERIFY2(!m_project.isEmpty(), "could not build the synthetic project");
    }

    void durationsInWords()
    {
        QCOMPARE(parseDuration("90s"), 90.0);
        QCOMPARE(parseDuration("10m"), 600.0);
        QCOMPARE(parseDuration("10min"), 600.0);
        QCOMPARE(parseDuration("1h"), 3600.0);
        QCOMPARE(parseDuration("1h30m"), 5400.0);
        QCOMPARE(parseDuration("2.5m"), 150.0);
        QCOMPARE(parseDuration("45"), 45.0);
        for (const char* bad : {"", "ten minutes", "10x", "-5m", "0.2s", "31d", "10 m", "5m3"}) {
            const std::string why = medsiam::test::errorOf([&] { parseDuration(bad); });
            QVERIFY2(why != "(no error)", bad);
        }
        QVERIFY(medsiam::test::errorOf([] { parseDuration("10x"); }).find("such as 90s, 10m, 1h") != std::string::npos);
        QCOMPARE(formatDuration(45), std::string("45 s"));
        QCOMPARE(formatDuration(600), std::string("10 min"));
        QCOMPARE(formatDuration(5400), std::string("1 h 30 min"));
    }

    void schedulesStretchWithTheRun()
    {
        // Cosine with 10% warmup: rises linearly, peaks, ends near zero, whatever the length.
        LrSchedule cosine;
        cosine.warmup = 0.1;
        for (int64_t total : {20, 1000}) {
            QVERIFY(std::abs(cosine.factor(0, total) - 1.0 / (0.1 * double(total))) < 1e-9);
            QVERIFY(std::abs(cosine.factor(0.1, total) - 1.0) < 1e-9);
            QVERIFY(cosine.factor(0.55, total) < 0.6 && cosine.factor(0.55, total) > 0.4);
            QVERIFY(cosine.factor(double(total - 1) / double(total), total) < 0.01);
        }
        LrSchedule steps;
        steps.shape = LrSchedule::Shape::Steps;
        steps.decays = {0.5, 0.75};
        QCOMPARE(steps.factor(0.49, 100), 1.0);
        QVERIFY(std::abs(steps.factor(0.5, 100) - 0.1) < 1e-12);
        QVERIFY(std::abs(steps.factor(0.99, 100) - 0.01) < 1e-12);
        // A plan that grows never moves the schedule back; one that shrinks moves it on.
        QCOMPARE(scheduleProgress(50, 100), 0.5);
        QCOMPARE(scheduleProgress(50, 200, 0.5), 0.5);
        QCOMPARE(scheduleProgress(60, 80, 0.5), 0.75);
    }

    void aPlanLeavesRoomForEvaluation()
    {
        // 0.1 s steps, 60 s left, 10 validations of 2 s and a final evaluation of 3 passes: the
        // steps get what the evaluations leave (60 - 26 - saves), not the whole minute.
        BudgetPlanner planner(60, 0);
        for (int i = 0; i < 10; ++i)
            planner.stepTimed(0.1);
        planner.evalTimed(2.0);
        planner.saveTimed(0.05);
        const int64_t total = planner.plan(0, 10, 2, 3, 100, 32);
        QVERIFY2(total > 300 && total < 345, qPrintable(QString::number(total)));
        // Time spent by an earlier process of the run counts.
        BudgetPlanner resumed(60, 30);
        for (int i = 0; i < 10; ++i)
            resumed.stepTimed(0.1);
        QVERIFY(resumed.plan(100, 0, 0, 0, 100, 32) < 100 + 301);
        QVERIFY(resumed.plan(100, 0, 0, 0, 100, 32) > 100 + 280);
    }

    void warningsNameWhatFlattersAClassifier()
    {
        // 90 normal, 10 pneumonia, every one called normal: 90% accurate, and useless.
        std::vector<int> truth;
        std::vector<float> probs;
        for (int i = 0; i < 100; ++i) {
            truth.push_back(i < 90 ? 0 : 1);
            probs.insert(probs.end(), {0.8f, 0.2f});
        }
        const auto m = computeMetrics(truth, probs, 2);
        QVERIFY(m.accuracy > 0.89);
        const auto w = qualityWarnings(m, "validation", {"normal", "pneumonia"});
        QCOMPARE(w.size(), size_t(2));
        QVERIFY2(w[0].find("predicts 'normal' for 100% of the validation images") != std::string::npos, w[0].c_str());
        QVERIFY2(w[1].find("balanced accuracy 0.500 is within 0.05 of chance (0.500)") != std::string::npos, w[1].c_str());
        // A classifier that tells them apart: no warning.
        std::vector<float> good;
        for (int i = 0; i < 100; ++i)
            good.insert(good.end(), i < 90 ? std::initializer_list<float>{0.7f, 0.3f} : std::initializer_list<float>{0.2f, 0.8f});
        QVERIFY(qualityWarnings(computeMetrics(truth, good, 2), "validation", {"normal", "pneumonia"}).empty());
    }

    void aBudgetEndsOnTimeWithItsScheduleDone()
    {
        const QStringList before = runsOf(m_project);
        QElapsedTimer clock;
        clock.start();
        QProcess cli;
        cli.start(QStringLiteral(MEDSIAM_CLI), {"finetune", m_project, "--budget", "15s", "--threads", "2"});
        QVERIFY(cli.waitForFinished(120000));
        const double seconds = double(clock.elapsed()) / 1000.0;
        const QString err = QString::fromUtf8(cli.readAllStandardError());
        QVERIFY2(cli.exitCode() == 0, qPrintable(err));
        qInfo("--budget 15s: the whole command took %.1f s", seconds);
        QVERIFY2(seconds <= 15 * 1.25, qPrintable(QString("took %1 s\n%2").arg(seconds).arg(err)));
        QVERIFY2(seconds >= 15 * 0.75, qPrintable(QString("took only %1 s of its 15\n%2").arg(seconds).arg(err)));
        const QString run = m_project + "/runs/" + newRun(m_project, before);
        double peak = 0, last = -1;
        int steps = 0;
        std::vector<double> rates; // images/s of each step, as the run measured them
        for (const auto& o : metricsLines(run))
            if (o["type"].toString() == "step") {
                peak = std::max(peak, o["lr"].toDouble());
                last = o["lr"].toDouble();
                rates.push_back(o["img_s"].toDouble());
                ++steps;
            }
        // Whether the machine got much slower during the run (another job took its cores): the
        // plan, made from the speed so far, then cannot hold, and the run must say so.
        // (A quiet machine makes over 100 steps; one or two mean it slowed down from the start.)
        QVERIFY2(!rates.empty(), qPrintable(err));
        double early = rates.front(), slowest = rates.front();
        if (rates.size() >= 2) {
            std::vector<double> firstHalf(rates.begin(), rates.begin() + static_cast<std::ptrdiff_t>(rates.size() / 2));
            std::nth_element(firstHalf.begin(), firstHalf.begin() + firstHalf.size() / 2, firstHalf.end());
            early = firstHalf[firstHalf.size() / 2];
            slowest = *std::min_element(rates.begin() + 1, rates.end());
        }
        const bool slowed = rates.size() < 3 || slowest < 0.5 * early;
        qInfo("%d steps; lr peak %g, last %g; %.0f img/s in the first half, %.0f at the slowest", steps, peak, last, early, slowest);
        if (slowed) {
            // Ended on time all the same; the schedule either completed or the run said it did not.
            QVERIFY2(err.contains("the machine got slower") || (last >= 0 && last < 0.02 * peak), qPrintable(err));
        } else {
            QVERIFY2(!err.contains("budget ran out"), qPrintable(err));
            // The schedule completed: the last step's lr is the cosine's end, ~0, far below its peak.
            QVERIFY(steps >= 10);
            QVERIFY2(last >= 0 && last < 0.02 * peak, qPrintable(QString("last lr %1, peak %2").arg(last).arg(peak)));
        }
        // The budget and the steps it came to are in config.json and the summary.
        const QJsonObject config = readJson(run + "/config.json"), summary = readJson(run + "/summary.json");
        QCOMPARE(config["budget_seconds"].toDouble(), 15.0);
        QCOMPARE(config["steps"].toInt(), steps);
        QCOMPARE(summary["steps_done"].toInt(), steps);
        QVERIFY2(summary["seconds"].toDouble() <= 15 * (slowed ? 1.25 : 1.1), qPrintable(QString::number(summary["seconds"].toDouble())));
    }

    void theBestValidationCheckpointIsTheOneEvaluated()
    {
        // Learnable labels: the val AUC climbs to its top and the last checkpoint ties with the best.
        QCOMPARE(selectedAfter(m_project), QString("last"));
        // Labels unrelated to the images: the val AUC wanders, and its best comes before the end.
        QTemporaryDir tmp;
        const QString noisy = medsiam::test::makeShapesProject(tmp.path(), QStringLiteral(MEDSIAM_CLI));
        QVERIFY(!noisy.isEmpty());
        {
            auto p = Project::open(noisy.toStdString());
            const int64_t a = p->ensureClass("0"), b = p->ensureClass("1");
            std::vector<std::pair<int64_t, int64_t>> labels;
            const auto rows = p->catalogue();
            for (size_t i = 0; i < rows.size(); ++i)
                labels.emplace_back(rows[i].imageId, (i * 7919 / 13) % 3 == 0 ? b : a);
            p->setLabels(labels, "user");
        }
        QCOMPARE(selectedAfter(noisy), QString("best"));
    }

    void aKilledBudgetedRunKeepsToTheTimeLeft()
    {
        const QStringList before = runsOf(m_project);
        QElapsedTimer clock;
        clock.start();
        QProcess b;
        b.start(QStringLiteral(MEDSIAM_CLI),
                {"finetune", m_project, "--budget", "24s", "--checkpoint-every", "2", "--threads", "2"});
        QVERIFY(b.waitForStarted());
        // Killed once it has trained for a while and written a checkpoint.
        QString run;
        while (clock.elapsed() < 60000 && b.state() == QProcess::Running) {
            QThread::msleep(100);
            run = newRun(m_project, before);
            if (!run.isEmpty() && QFile::exists(m_project + "/runs/" + run + "/checkpoints/last.safetensors") && clock.elapsed() > 10000)
                break;
        }
        QVERIFY2(b.state() == QProcess::Running, "the run ended before it could be killed");
        ::kill(static_cast<pid_t>(b.processId()), SIGKILL);
        QVERIFY(b.waitForFinished(30000));
        const double firstPart = double(clock.elapsed()) / 1000.0;
        QElapsedTimer again;
        again.start();
        QProcess resume;
        resume.start(QStringLiteral(MEDSIAM_CLI), {"resume", m_project, run, "--threads", "2"});
        QVERIFY(resume.waitForFinished(120000));
        const double secondPart = double(again.elapsed()) / 1000.0;
        const QString log = QString::fromUtf8(resume.readAllStandardError());
        QVERIFY2(resume.exitCode() == 0, qPrintable(log));
        qInfo("killed after %.1f s; the resumed run took %.1f s of the 24 s budget", firstPart, secondPart);
        // What was left, not a fresh 24 s: the time between the last checkpoint and the kill is
        // lost, so the two parts may pass the budget by that much (checkpoints every 2 steps).
        QVERIFY2(secondPart < 24 - firstPart + 6, qPrintable(QString("resumed run took %1 s").arg(secondPart)));
        const QJsonObject summary = readJson(m_project + "/runs/" + run + "/summary.json");
        QVERIFY2(summary["seconds"].toDouble() <= 24 * 1.1, qPrintable(QString::number(summary["seconds"].toDouble())));
        QCOMPARE(summary["budget_seconds"].toDouble(), 24.0);
    }

private:
    QTemporaryDir m_tmp;
    QString m_project;
};

QTEST_GUILESS_MAIN(TestBudget)
#include "TestBudget.moc"
