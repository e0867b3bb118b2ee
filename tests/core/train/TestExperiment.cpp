// The transfer experiment and run comparison as a user meets them: `medsiam-cli experiment` on the
// bundled PneumoniaMNIST runs every arm and writes the figure, the table and the finding, with
// the table's numbers equal to the arms' own runs; an experiment stopped with Ctrl-C resumes with
// the stages left, continuing (not restarting) the interrupted run, and an arm that fails is
// reported while the others finish; `medsiam-cli compare` shows two runs' curves and marks the
// settings in which they differ.
#include "TestSupport.h"

#include "eval/RunComparison.h"
#include "project/Project.h"
#include "util/Csv.h"

#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>

#include <cmath>
#include <csignal>
#include <set>

using namespace medsiam::core;

namespace {

QJsonObject readJson(const QString& path) { return medsiam::test::readJsonFile(path); }

QString readText(const QString& path)
{
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? QString::fromUtf8(f.readAll()) : QString();
}

/// Runs medsiam-cli; returns stdout + stderr, and the exit code in `code`.
QString cli(const QStringList& args, int& code, int timeoutMs = 600000)
{
    QProcess p;
    p.setProcessChannelMode(QProcess::MergedChannels);
    p.start(QStringLiteral(MEDSIAM_CLI), args);
    if (!p.waitForFinished(timeoutMs)) {
        p.kill();
        p.waitForFinished();
        code = -1;
        return "(timed out)";
    }
    code = p.exitCode();
    return QString::fromUtf8(p.readAll());
}

QString onlyExperiment(const QString& project)
{
    const QStringList ids = QDir(project + "/experiments").entryList(QDir::Dirs | QDir::NoDotAndDotDot);
    return ids.size() == 1 ? ids.front() : QString();
}

double number(const std::string& s) { return s.empty() ? NAN : std::stod(s); }

/// A metric of a run's summary.json ("test.macro_auc", "knn.balanced_accuracy", "seconds").
double summaryValue(const QString& project, const std::string& run, const QString& path)
{
    QJsonValue v = readJson(project + "/runs/" + QString::fromStdString(run) + "/summary.json");
    for (const QString& part : path.split('.'))
        v = v.toObject()[part];
    return v.isDouble() ? v.toDouble() : NAN;
}

/// Equal up to the table's six significant digits.
bool near(double a, double b) { return (std::isnan(a) && std::isnan(b)) || std::fabs(a - b) <= 1e-5 * std::max(1.0, std::fabs(b)); }

} // namespace

class TestExperiment : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void experimentOnTheBundledData();
    void interruptedExperimentResumesAndReportsAFailedArm();
    void compareShowsCurvesAndDifferences();
    void badSettingsAreRefusedInWords();
};

void TestExperiment::experimentOnTheBundledData()
{
    QTemporaryDir tmp;
    const QString project = tmp.path() + "/pneumonia.medsiam";
    int code = 0;
    QString out = cli({"import", QStringLiteral(MEDSIAM_SOURCE_DIR) + "/datasets/pneumoniamnist_28.npz", "--project", project}, code);
    QVERIFY2(code == 0, qPrintable(out));
    out = cli({"experiment", project, "--budget", "4s", "--finetune-budget", "4s", "--upstream-budget", "4s", "--draws", "2",
               "--threads", "2"},
              code);
    QVERIFY2(code == 0, qPrintable(out));
    const QString id = onlyExperiment(project);
    QVERIFY(!id.isEmpty());
    const QString dir = project + "/experiments/" + id;
    for (const char* f : {"figure.png", "figure.svg", "label_efficiency.png", "label_efficiency.svg", "table.csv", "curves.csv",
                          "label_efficiency.csv", "finding.txt", "experiment.json", "state.json"})
        QVERIFY2(QFile::exists(dir + "/" + f), f);
    QVERIFY(QFileInfo(dir + "/figure.png").size() > 10000);

    // Every stage completed: upstream, 3 SimSiam arms, 5 probes, 5 fine-tunes.
    const QJsonArray stages = readJson(dir + "/state.json")["stages"].toArray();
    QCOMPARE(stages.size(), 14);
    for (const auto& s : stages)
        QVERIFY2(s.toObject()["state"].toString() == "completed", qPrintable(s.toObject()["arm"].toString() + " " +
                                                                            s.toObject()["stage"].toString() + ": " +
                                                                            s.toObject()["error"].toString()));

    // The table's numbers are the runs' own.
    const CsvTable table = readCsv((dir + "/table.csv").toStdString());
    QCOMPARE(table.rows.size(), size_t(5));
    std::set<std::string> arms;
    for (const auto& row : table.rows) {
        auto col = [&](const char* name) { return row[size_t(table.column(name))]; };
        arms.insert(col("arm"));
        QCOMPARE(col("state"), std::string("completed"));
        QVERIFY(near(number(col("probe_test_auc")), summaryValue(project, col("probe_run"), "test.macro_auc")));
        QVERIFY(near(number(col("probe_test_balanced_accuracy")), summaryValue(project, col("probe_run"), "test.balanced_accuracy")));
        QVERIFY(near(number(col("finetune_test_auc")), summaryValue(project, col("finetune_run"), "test.macro_auc")));
        QVERIFY(near(number(col("finetune_test_balanced_accuracy")), summaryValue(project, col("finetune_run"), "test.balanced_accuracy")));
        if (!col("simsiam_run").empty()) {
            QVERIFY(near(number(col("knn_balanced_accuracy_final")), summaryValue(project, col("simsiam_run"), "knn.balanced_accuracy")));
            QVERIFY(near(number(col("simsiam_seconds")), summaryValue(project, col("simsiam_run"), "seconds")));
            QVERIFY(number(col("simsiam_seconds")) > 0);
            // The kNN curve starts where the init starts, at step 0.
            QVERIFY(!std::isnan(number(col("knn_balanced_accuracy_start"))));
        }
        // Label efficiency: 1%, 10% and 100% of the 3882 train labels, with a spread over the draws below 100%.
        QVERIFY(!col("labels_1pct_auc_mean").empty());
        QVERIFY(!col("labels_100pct_auc_mean").empty());
        QCOMPARE(number(col("labels_100pct_auc_mean")), number(col("probe_test_auc")));
    }
    QCOMPARE(arms, (std::set<std::string>{"simsiam_scratch", "simsiam_transfer_gn", "simsiam_transfer_bn", "transfer_only", "random"}));
    // 2 draws at 1% and 10%, one at 100%, per arm; 1% of 3882 keeps both classes (39 images).
    const CsvTable le = readCsv((dir + "/label_efficiency.csv").toStdString());
    QCOMPARE(le.rows.size(), size_t(5 * 5));
    for (const auto& row : le.rows)
        if (row[size_t(le.column("fraction"))] == "0.01")
            QCOMPARE(row[size_t(le.column("labels"))], std::string("39"));

    // The finding says where the source came from and answers from the numbers.
    const QString finding = readText(dir + "/finding.txt");
    QVERIFY2(finding.contains("Transfer source: an upstream classifier"), qPrintable(finding));
    QVERIFY2(finding.contains("from-scratch SimSiam's final kNN balanced accuracy") || finding.contains("already at or above"),
             qPrintable(finding));
    QVERIFY2(finding.contains("Normalization:"), qPrintable(finding));
    QVERIFY2(out.contains("SimSiam from the transfer init (BatchNorm + WS)"), qPrintable(out));
    // The BatchNorm arm really trained a BatchNorm network.
    const QString bnRun = [&] {
        for (const auto& s : stages)
            if (s.toObject()["arm"].toString() == "simsiam_transfer_bn" && s.toObject()["stage"].toString() == "simsiam")
                return s.toObject()["run"].toString();
        return QString();
    }();
    QCOMPARE(readJson(project + "/runs/" + bnRun + "/config.json")["model"].toObject()["backbone"].toObject()["norm"].toString(),
             QString("bn_ws"));
}

void TestExperiment::interruptedExperimentResumesAndReportsAFailedArm()
{
    QTemporaryDir tmp;
    const QString project = medsiam::test::makeShapesProject(tmp.path(), QStringLiteral(MEDSIAM_CLI));
    QVERIFY(!project.isEmpty());
    QProcess run;
    // Its output goes to a file: a pipe nobody reads while the test waits would fill and stall it.
    const QString log = tmp.path() + "/experiment.log";
    run.setProcessChannelMode(QProcess::MergedChannels);
    run.setStandardOutputFile(log);
    run.start(QStringLiteral(MEDSIAM_CLI), {"experiment", project, "--budget", "15s", "--upstream-budget", "3s", "--no-finetune", "--batch", "16",
                                            "--arms", "simsiam_scratch,simsiam_transfer_gn,random", "--threads", "2"});
    QVERIFY(run.waitForStarted());
    // Stop it once the from-scratch SimSiam run has taken a few steps (80 images in half b, 5 steps an epoch).
    QString id, scratchRun;
    QElapsedTimer clock;
    clock.start();
    while (clock.elapsed() < 240000 && run.state() == QProcess::Running) {
        QThread::msleep(200);
        id = onlyExperiment(project);
        if (id.isEmpty())
            continue;
        for (const auto& s : readJson(project + "/experiments/" + id + "/state.json")["stages"].toArray())
            if (s.toObject()["arm"].toString() == "simsiam_scratch" && s.toObject()["stage"].toString() == "simsiam")
                scratchRun = s.toObject()["run"].toString();
        if (!scratchRun.isEmpty() && readText(project + "/runs/" + scratchRun + "/metrics.jsonl").count("\"type\":\"step\"") >= 3)
            break;
    }
    QVERIFY2(!scratchRun.isEmpty(), qPrintable(readText(log)));
    // SIGTERM: the CLI handles it as Ctrl-C; a QtTest process keeps SIGINT from reaching its children.
    ::kill(static_cast<pid_t>(run.processId()), SIGTERM);
    QVERIFY(run.waitForFinished(120000));
    const QString stopped = readText(log);
    QCOMPARE(run.exitCode(), 130);
    QVERIFY2(stopped.contains("--resume " + id), qPrintable(stopped));

    // The upstream source's checkpoints are damaged meanwhile: the transfer arm cannot start.
    QString upstreamRun;
    for (const auto& s : readJson(project + "/experiments/" + id + "/state.json")["stages"].toArray())
        if (s.toObject()["stage"].toString() == "upstream")
            upstreamRun = s.toObject()["run"].toString();
    QVERIFY(!upstreamRun.isEmpty());
    for (const char* f : {"last.safetensors", "best.safetensors"})
        medsiam::test::writeText(project + "/runs/" + upstreamRun + "/checkpoints/" + f, "not weights");

    int code = 0;
    const QString out = cli({"experiment", project, "--resume", id, "--threads", "2"}, code);
    QVERIFY2(code == 0, qPrintable(out));
    const QString dir = project + "/experiments/" + id;
    const QJsonArray stages = readJson(dir + "/state.json")["stages"].toArray();
    QString scratchAfter;
    for (const auto& v : stages) {
        const QJsonObject s = v.toObject();
        const QString arm = s["arm"].toString(), state = s["state"].toString();
        if (arm == "simsiam_scratch" && s["stage"].toString() == "simsiam")
            scratchAfter = s["run"].toString();
        if (arm == "simsiam_transfer_gn")
            QVERIFY2(state == "failed" || state == "skipped", qPrintable(arm + " " + state));
        else
            QVERIFY2(state == "completed", qPrintable(arm + " " + s["stage"].toString() + " " + state + ": " + s["error"].toString()));
    }
    // The interrupted run was continued, not started again: one run, every step logged once.
    QCOMPARE(scratchAfter, scratchRun);
    std::set<int> steps;
    int stepLines = 0;
    for (const QString& line : readText(project + "/runs/" + scratchRun + "/metrics.jsonl").split('\n')) {
        const QJsonObject r = QJsonDocument::fromJson(line.toUtf8()).object();
        if (r["type"].toString() == "step") {
            steps.insert(r["step"].toInt());
            ++stepLines;
        }
    }
    QCOMPARE(int(steps.size()), stepLines);
    QVERIFY(stepLines > 3);
    const QString finding = readText(dir + "/finding.txt");
    QVERIFY2(finding.contains("Not measured: SimSiam from the transfer init (GroupNorm + WS), simsiam failed"), qPrintable(finding));
    QVERIFY(QFile::exists(dir + "/figure.png"));
}

void TestExperiment::compareShowsCurvesAndDifferences()
{
    QTemporaryDir tmp;
    const QString project = medsiam::test::makeShapesProject(tmp.path(), QStringLiteral(MEDSIAM_CLI));
    QVERIFY(!project.isEmpty());
    int code = 0;
    QString out = cli({"pretrain", project, "--steps", "10", "--batch", "32", "--monitor-every", "5", "--monitor-at-start", "--threads", "2"},
                      code);
    QVERIFY2(code == 0, qPrintable(out));
    out = cli({"pretrain", project, "--steps", "10", "--batch", "16", "--lr", "0.1", "--monitor-every", "5", "--threads", "2"}, code);
    QVERIFY2(code == 0, qPrintable(out));
    auto p = Project::open(project.toStdString(), ProjectAccess::ReadOnly);
    std::vector<std::string> ids;
    for (const QString& d : QDir(project + "/runs").entryList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name))
        ids.push_back(d.toStdString());
    QCOMPARE(ids.size(), size_t(2));
    const Comparison c = compareRuns(*p, ids);
    QVERIFY(c.differs("batch"));
    QVERIFY(c.differs("base_lr"));
    QVERIFY(c.differs("monitor_at_start"));
    QVERIFY(!c.differs("seed"));
    QVERIFY(!c.differs("model.backbone.name"));
    for (const auto& r : c.runs) {
        const auto& loss = r.curves.at(CurveMetric::Loss);
        QCOMPARE(loss.size(), size_t(10));
        for (size_t i = 1; i < loss.size(); ++i)
            QVERIFY(loss[i].seconds > loss[i - 1].seconds);
        QCOMPARE(loss.back().images, 10.0 * std::stod(r.settings.at("batch")));
        QVERIFY(loss.back().epoch > 0);
        QVERIFY(r.finals.count("knn_balanced_accuracy"));
    }
    // The run with a monitor at the start has one more kNN point, at step 0.
    QCOMPARE(c.runs[0].curves.at(CurveMetric::KnnBalancedAccuracy).size(), size_t(3));
    QCOMPARE(c.runs[0].curves.at(CurveMetric::KnnBalancedAccuracy).front().step, int64_t(0));
    QCOMPARE(c.runs[1].curves.at(CurveMetric::KnnBalancedAccuracy).size(), size_t(2));

    // The CLI: the differing settings first and marked, the figure and the tables.
    const QString dir = tmp.path() + "/cmp";
    out = cli({"compare", project, QString::fromStdString(ids[0]), QString::fromStdString(ids[1]), "--curve", "loss", "--x", "seconds",
               "--out", dir},
              code);
    QVERIFY2(code == 0, qPrintable(out));
    QVERIFY2(out.contains(QRegularExpression("\\*batch\\s+32\\s+16")), qPrintable(out));
    QVERIFY2(!out.contains("*seed"), qPrintable(out));
    const CsvTable table = readCsv((dir + "/compare_table.csv").toStdString());
    bool batchMarked = false;
    for (const auto& row : table.rows)
        if (row[0] == "batch")
            batchMarked = row[1] == "yes" && row[2] == "32" && row[3] == "16";
    QVERIFY(batchMarked);
    QVERIFY(QFileInfo(dir + "/compare.png").size() > 5000);
    QVERIFY(readText(dir + "/compare.svg").contains("<svg"));
    QCOMPARE(readText(dir + "/compare_curves.csv").count("\n"), 1 + 2 * (10 + 10) + 3 * 2 + 2 * 2);
    // A run that is not there is named.
    out = cli({"compare", project, QString::fromStdString(ids[0]), "simsiam-nope"}, code);
    QCOMPARE(code, 1);
    QVERIFY2(out.contains("no run \"simsiam-nope\""), qPrintable(out));
}

void TestExperiment::badSettingsAreRefusedInWords()
{
    QTemporaryDir tmp;
    const QString project = medsiam::test::makeShapesProject(tmp.path(), QStringLiteral(MEDSIAM_CLI));
    QVERIFY(!project.isEmpty());
    const std::vector<std::pair<QStringList, QString>> cases = {
        {{"--arms", "simsiam_scratch,foo"}, "unknown arm \"foo\"; the arms are simsiam_scratch, simsiam_transfer_gn"},
        {{"--budget", "0s"}, "too short"},
        {{"--init", tmp.path() + "/missing.npz"}, "the weights file '" + tmp.path() + "/missing.npz' does not exist"},
        {{"--init", tmp.path() + "/x.npz", "--init-run", "simsiam-1"}, "give one transfer source"},
        {{"--source-run", "finetune-1"}, "a source run belongs to a source project"},
        {{"--label-fractions", "1%,200%"}, "at most 1 (100%)"},
        {{"--resume", "exp-nope"}, "no experiment \"exp-nope\" in this project"},
    };
    for (const auto& [extra, words] : cases) {
        int code = 0;
        const QString out = cli(QStringList{"experiment", project} + extra, code);
        QVERIFY2(code != 0, qPrintable(extra.join(' ')));
        QVERIFY2(out.contains(words), qPrintable(extra.join(' ') + ": " + out));
    }
    // Nothing was started or left behind.
    QVERIFY(QDir(project + "/experiments").entryList(QDir::Dirs | QDir::NoDotAndDotDot).isEmpty());
    QVERIFY(QDir(project + "/runs").entryList(QDir::Dirs | QDir::NoDotAndDotDot).isEmpty());
}

QTEST_GUILESS_MAIN(TestExperiment)
#include "TestExperiment.moc"
