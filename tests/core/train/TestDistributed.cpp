// Data-parallel training's process group (train/Distributed): who a process is (torchrun's
// variables, the same by hand, Slurm's), and two real processes on Gloo over loopback: the
// collectives' results, a rank that dies (the other fails within the timeout, naming it), a
// world size the ranks disagree on, and a master nobody runs.
#include "TestSupport.h"
#include "models/Checkpoint.h"
#include "train/Distributed.h"
#include "train/TrainUtil.h"
#include "util/Error.h"

#include <QDir>
#include <QFile>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QThread>

#include <csignal>
#include <cstring>

#include <QElapsedTimer>
#include <QProcess>
#include <QTest>

#include <map>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace medsiam;
using namespace medsiam::core;

namespace {

std::string errorOf(const std::function<void()>& f)
{
    try {
        f();
    } catch (const UserError& e) {
        return e.what();
    }
    return "(no error)";
}

DistributedEnv envOf(const std::map<std::string, std::string>& vars)
{
    return distributedEnvFromEnvironment([&](const char* name) -> const char* {
        auto it = vars.find(name);
        return it == vars.end() ? nullptr : it->second.c_str();
    });
}

int freePort()
{
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
        port = ntohs(a.sin_port);
    ::close(fd);
    return port;
}

struct Rank {
    std::unique_ptr<QProcess> process = std::make_unique<QProcess>();
    QString out, err;
};

/// Starts rank `rank` of `world` with torchrun's variables.
void startRank(Rank& r, int rank, int world, int port, const QString& scenario, int timeout)
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert("RANK", QString::number(rank));
    env.insert("WORLD_SIZE", QString::number(world));
    env.insert("LOCAL_RANK", QString::number(rank));
    env.insert("MASTER_ADDR", "127.0.0.1");
    env.insert("MASTER_PORT", QString::number(port));
    r.process->setProcessEnvironment(env);
    r.process->start(MEDSIAM_DISTRIBUTED_WORKER, {scenario, QString::number(timeout)});
}

void finish(Rank& r, int ms)
{
    r.process->waitForFinished(ms);
    r.out = QString::fromLocal8Bit(r.process->readAllStandardOutput());
    r.err = QString::fromLocal8Bit(r.process->readAllStandardError());
}

/// medsiam-cli with `args`, and its output; `env` adds variables (torchrun's, for a rank by hand).
struct Cli {
    int code = -1;
    QString out, err;
};
Cli runCli(const QStringList& args, const std::map<QString, QString>& vars = {}, int ms = 300000)
{
    QProcess p;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    for (const auto& [k, v] : vars)
        env.insert(k, v);
    p.setProcessEnvironment(env);
    p.start(MEDSIAM_CLI, args);
    p.waitForFinished(ms);
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1, QString::fromLocal8Bit(p.readAllStandardOutput()),
            QString::fromLocal8Bit(p.readAllStandardError())};
}

/// medsiam-cli `args` as rank `rank` of 2 on loopback, with torchrun's variables set by hand.
void startCliRank(QProcess& p, int rank, int port, const QStringList& args)
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert("RANK", QString::number(rank));
    env.insert("WORLD_SIZE", "2");
    env.insert("MASTER_ADDR", "127.0.0.1");
    env.insert("MASTER_PORT", QString::number(port));
    p.setProcessEnvironment(env);
    p.start(MEDSIAM_CLI, args);
}

QString runIdIn(const QString& text)
{
    const auto m = QRegularExpression("run ((?:simsiam|finetune)-[0-9-]+(?:-[0-9]+)?)").match(text);
    return m.hasMatch() ? m.captured(1) : QString();
}

/// The largest difference between the weights of two checkpoints (every model tensor, running
/// statistics included); `relative`: relative to values above 1 (running variances).
double weightDifference(const QString& a, const QString& b, bool relative = false)
{
    const auto ca = readCheckpoint(a.toStdString()), cb = readCheckpoint(b.toStdString());
    double worst = 0;
    int compared = 0;
    for (const RawTensor& t : ca.file.tensors) {
        if (t.name.rfind("model.", 0) != 0)
            continue;
        const RawTensor* u = cb.file.find(t.name);
        if (!u || u->shape != t.shape)
            return 1e9;
        const auto x = t.toFloat(), y = u->toFloat();
        for (size_t i = 0; i < x.size(); ++i)
            worst = std::max(worst, double(std::abs(x[i] - y[i])) / (relative ? std::max(1.0, double(std::abs(x[i]))) : 1.0));
        ++compared;
    }
    return compared > 10 ? worst : 1e9;
}

} // namespace

class TestDistributed : public QObject {
    Q_OBJECT
    QTemporaryDir m_dir;
    QString m_project;
    QStringList m_seen; // runs made by earlier tests

private Q_SLOTS:
    void initTestCase();
    void twoProcessesTrainTheSameWeightsAsOne();
    void synchronisedBatchNormTrainsTheSameWeightsAsOne_data();
    void synchronisedBatchNormTrainsTheSameWeightsAsOne();
    void aStoppedGroupResumesByHand();
    void twoProcessesFineTuneTheSameWeightsAsOne();
    void twoProcessesProbeAsOne();
    void aKilledRankStopsTheOtherWithItsName();

    void whoIsWhoFromTheEnvironment()
    {
        QVERIFY(!envOf({}).distributed());
        DistributedEnv e = envOf({{"RANK", "1"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "1"}, {"MASTER_ADDR", "10.0.0.2"}, {"MASTER_PORT", "29511"}});
        QCOMPARE(e.rank, 1);
        QCOMPARE(e.worldSize, 4);
        QCOMPARE(e.masterAddr, std::string("10.0.0.2"));
        QCOMPARE(e.masterPort, 29511);
        QCOMPARE(e.source, std::string("torchrun variables"));
        QVERIFY(errorOf([] { envOf({{"RANK", "0"}}); }).find("WORLD_SIZE is not") != std::string::npos);
        QVERIFY(errorOf([] { envOf({{"RANK", "4"}, {"WORLD_SIZE", "4"}, {"MASTER_ADDR", "h"}}); }).find("RANK must be a whole number from 0 to 3") != std::string::npos);
        QVERIFY(errorOf([] { envOf({{"RANK", "0"}, {"WORLD_SIZE", "2"}}); }).find("MASTER_ADDR is not set") != std::string::npos);
        QVERIFY(errorOf([] { envOf({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "70000"}}); }).find("MASTER_PORT") != std::string::npos);
        // Slurm: srun's variables, the master on the job's first node.
        e = envOf({{"SLURM_PROCID", "5"}, {"SLURM_NTASKS", "8"}, {"SLURM_LOCALID", "1"}, {"SLURM_JOB_NODELIST", "gpu[03-05,09],cpu1"}});
        QCOMPARE(e.rank, 5);
        QCOMPARE(e.worldSize, 8);
        QCOMPARE(e.localRank, 1);
        QCOMPARE(e.masterAddr, std::string("gpu03"));
        QCOMPARE(e.masterPort, 29500);
        QCOMPARE(e.source, std::string("Slurm"));
        QCOMPARE(firstSlurmHost("node7"), std::string("node7"));
        QCOMPARE(firstSlurmHost("rack1-[2-3]-n[01,04]"), std::string("rack1-2-n01"));
        QCOMPARE(firstSlurmHost("a,b"), std::string("a"));
    }

    void batchNormSeesWhatOneProcessSees()
    {
        // Pretraining (one pass per view over the batch): the group's statistics.
        QCOMPARE(batchNormSpan(256, 4, 256), BatchNormSpan::Group);
        QCOMPARE(batchNormSpan(256, 1, 256), BatchNormSpan::Own);
        // Fine-tuning in micro-batches: a share made of whole micro-batches is one process's.
        QCOMPARE(batchNormSpan(512, 2, 64), BatchNormSpan::Own);
        QCOMPARE(batchNormSpan(128, 2, 64), BatchNormSpan::Own);
        // One process normalizes over the whole batch: the group's.
        QCOMPARE(batchNormSpan(32, 2, 64), BatchNormSpan::Group);
        QCOMPARE(batchNormSpan(64, 2, 64), BatchNormSpan::Group);
        // Neither (one process 64 + 32, each rank 48): said.
        QCOMPARE(batchNormSpan(96, 2, 64), BatchNormSpan::Differs);
    }

    void twoProcessesAverageAndBroadcast()
    {
        if (!distributedAvailable())
            QFAIL("this build has no Gloo backend (libgloo-dev; scripts/install-deps.sh installs it)");
        const int port = freePort();
        Rank r0, r1;
        startRank(r0, 0, 2, port, "collectives", 30);
        startRank(r1, 1, 2, port, "collectives", 30);
        finish(r0, 60000);
        finish(r1, 60000);
        for (Rank* r : {&r0, &r1}) {
            QVERIFY2(r->process->exitCode() == 0, qPrintable(r->err));
            QVERIFY2(r->out.contains("mean a 1.500000 b4 6.000000 c 5.000000"), qPrintable(r->out)); // (1+2)/2, 4*(1+2)/2, (0+10)/2
            QVERIFY2(r->out.contains("broadcast 100.0") && r->out.contains("string 'run-42'") && r->out.contains("sum 2 1"),
                     qPrintable(r->out));
        }
        QVERIFY(r1.out.contains("joined rank 1 of 2 (local rank 1), master 127.0.0.1:" + QString::number(port)));
    }

    void aRankThatDiesIsNamedAndNothingHangs()
    {
        const int port = freePort();
        Rank r0, r1;
        QElapsedTimer t;
        t.start();
        startRank(r0, 0, 2, port, "die", 20);
        startRank(r1, 1, 2, port, "die", 20);
        finish(r1, 60000);
        finish(r0, 60000);
        QCOMPARE(r1.process->exitCode(), 3);
        QCOMPARE(r0.process->exitCode(), 1);
        QVERIFY2(r0.err.contains("rank 1 stopped answering"), qPrintable(r0.err));
        QVERIFY2(t.elapsed() < 25000, qPrintable(QString::number(t.elapsed())));
    }

    void disagreeingWorldSizesAndAMissingMasterAreSaid()
    {
        int port = freePort();
        Rank r0, r1;
        startRank(r0, 0, 2, port, "join", 5);
        startRank(r1, 1, 3, port, "join", 5);
        finish(r0, 30000);
        finish(r1, 30000);
        QCOMPARE(r0.process->exitCode(), 1);
        QVERIFY2(r0.err.contains("rank 1 was started with WORLD_SIZE 3, rank 0 with 2"), qPrintable(r0.err));
        QCOMPARE(r1.process->exitCode(), 1);
        // Rank 1 alone: nobody hosts the store.
        port = freePort();
        Rank lone;
        startRank(lone, 1, 2, port, "join", 2);
        finish(lone, 30000);
        QCOMPARE(lone.process->exitCode(), 1);
        QVERIFY2(lone.err.contains("cannot reach the master at 127.0.0.1:" + QString::number(port)), qPrintable(lone.err));
    }
};


void TestDistributed::initTestCase()
{
    QVERIFY(m_dir.isValid());
    m_project = test::makeShapesProject(m_dir.path(), MEDSIAM_CLI);
    QVERIFY2(!m_project.isEmpty(), "the test project could not be made");
}

void TestDistributed::twoProcessesTrainTheSameWeightsAsOne()
{
    // GroupNorm + WS backbone and LayerNorm heads: nothing depends on how the batch is split. One
    // process with one thread against two with one each: only the order of the sums differs
    // (SimSiam's first steps amplify that about tenfold a step; GroupNorm heads with few channels
    // per group more, see docs/SCALE.md).
    const QStringList common = {"pretrain", m_project, "--backbone", "bit-nano", "--size", "32", "--steps", "5", "--batch", "32",
                                "--head-norm", "ln", "--fp32", "--seed", "3", "--monitor-every", "1000"};
    const Cli one = runCli(common + QStringList{"--threads", "1"});
    QVERIFY2(one.code == 0, qPrintable(one.err));
    const Cli two = runCli(common + QStringList{"--nproc", "2"});
    QVERIFY2(two.code == 0, qPrintable(two.err));
    QVERIFY2(two.err.contains("starting 2 ranks on this machine") && two.err.contains("data-parallel over 2 processes"), qPrintable(two.err));
    const QString a = runIdIn(one.out), b = runIdIn(two.out);
    QVERIFY(!a.isEmpty() && !b.isEmpty() && a != b);
    m_seen << a << b;
    const double diff = weightDifference(m_project + "/runs/" + a + "/checkpoints/last.safetensors",
                                         m_project + "/runs/" + b + "/checkpoints/last.safetensors");
    QVERIFY2(diff < 1e-5, qPrintable(QString("largest weight difference %1").arg(diff)));
    // A batch that does not divide into the processes is refused in words.
    const Cli odd = runCli({"pretrain", m_project, "--backbone", "bit-nano", "--size", "32", "--steps", "2", "--batch", "33", "--nproc", "2"});
    QVERIFY(odd.code != 0);
    QVERIFY2(odd.err.contains("does not divide into 2 processes"), qPrintable(odd.err));
}

void TestDistributed::synchronisedBatchNormTrainsTheSameWeightsAsOne_data()
{
    QTest::addColumn<QStringList>("model");
    QTest::addColumn<double>("tolerance");
    QTest::newRow("SimSiam's BatchNorm heads") << QStringList{"--head-norm", "bn", "--fp32"} << 1e-5;
    // The backbone's layers take their statistics from LibTorch's fused BatchNorm kernel (as one
    // process does), whose float sums leave ~1e-6 per layer; SimSiam's first steps amplify that
    // to 1.9e-4 after two. Each rank's own statistics would give 0.13.
    QTest::newRow("BatchNorm + WS backbone and heads") << QStringList{"--norm", "bn_ws", "--head-norm", "bn", "--fp32"} << 1e-3;
    // bf16 autocast (this CPU's default): the layers see bf16 activations, the statistics and
    // their all-reduce stay float (Gloo sums no bf16). bf16 rounding is the noise: 5.4e-3 here,
    // one process with 1 and 2 threads 3.8e-3; each rank's own statistics would give 0.13.
    QTest::newRow("BatchNorm + WS backbone and heads, bf16") << QStringList{"--norm", "bn_ws", "--head-norm", "bn", "--bf16"} << 3e-2;
}

void TestDistributed::synchronisedBatchNormTrainsTheSameWeightsAsOne()
{
    // BatchNorm normalizes over the whole batch, not each rank's half: synchronised, forward and
    // backward, so two ranks train one process's weights. Two steps: after them float-order noise
    // is 2e-7 to 2e-4 (SimSiam then amplifies it as it does a change of thread count, see
    // docs/SCALE.md), while each rank's own statistics would differ by 0.06 to 0.13.
    QFETCH(QStringList, model);
    QFETCH(double, tolerance);
    const QStringList common = QStringList{"pretrain", m_project, "--backbone", "bit-nano", "--size", "32", "--steps", "2", "--batch", "32",
                                           "--seed", "3", "--monitor-every", "1000"} + model;
    const Cli one = runCli(common + QStringList{"--threads", "1"});
    QVERIFY2(one.code == 0, qPrintable(one.err));
    const Cli two = runCli(common + QStringList{"--nproc", "2"});
    QVERIFY2(two.code == 0, qPrintable(two.err));
    QVERIFY2(!two.err.contains("BatchNorm normalizes over each process"), qPrintable(two.err));
    const QString a = runIdIn(one.out), b = runIdIn(two.out);
    QVERIFY(!a.isEmpty() && !b.isEmpty() && a != b);
    m_seen << a << b;
    const double diff = weightDifference(m_project + "/runs/" + a + "/checkpoints/last.safetensors",
                                         m_project + "/runs/" + b + "/checkpoints/last.safetensors", true);
    qInfo("largest relative weight difference %g", diff);
    QVERIFY2(diff < tolerance, qPrintable(QString("largest weight difference %1").arg(diff)));
}

void TestDistributed::twoProcessesFineTuneTheSameWeightsAsOne()
{
    // From random weights on a GroupNorm + WS backbone: nothing depends on the split. SGD, whose
    // step is linear in the gradient: a wrongly scaled share would show (AdamW's would not, being
    // scale-invariant, and its second step amplifies float-order noise to ~1e-5, see docs/SCALE.md).
    const QStringList common = {"finetune", m_project, "--backbone", "bit-nano", "--size", "32", "--steps", "5", "--batch", "32",
                                "--fp32", "--seed", "5", "--eval-every", "5", "--optimizer", "sgd", "--lr", "0.01"};
    const Cli one = runCli(common + QStringList{"--threads", "1"});
    QVERIFY2(one.code == 0, qPrintable(one.err));
    const Cli two = runCli(common + QStringList{"--nproc", "2"});
    QVERIFY2(two.code == 0, qPrintable(two.err));
    const QString a = runIdIn(one.out), b = runIdIn(two.out);
    QVERIFY2(!a.isEmpty() && !b.isEmpty() && a != b, qPrintable(one.out + two.out));
    const double diff = weightDifference(m_project + "/runs/" + a + "/checkpoints/last.safetensors",
                                         m_project + "/runs/" + b + "/checkpoints/last.safetensors");
    QVERIFY2(diff < 1e-5, qPrintable(QString("largest weight difference %1").arg(diff)));
    // Rank 0 evaluated and reported the selected checkpoint, as alone.
    QVERIFY2(two.out.contains("test") && two.out.contains("ROC AUC"), qPrintable(two.out));
}

void TestDistributed::twoProcessesProbeAsOne()
{
    // The ranks share the feature extraction; rank 0 fits the probe and makes the run: its
    // metrics are one process's, and there is one run, not two.
    const QStringList common = {"probe", m_project, "--backbone", "bit-nano", "--size", "32", "--seed", "2"};
    const Cli one = runCli(common + QStringList{"--threads", "1"});
    QVERIFY2(one.code == 0, qPrintable(one.err));
    const int runsBefore = QDir(m_project + "/runs").entryList(QDir::Dirs | QDir::NoDotAndDotDot).size();
    const Cli two = runCli(common + QStringList{"--nproc", "2"});
    QVERIFY2(two.code == 0, qPrintable(two.err));
    QCOMPARE(QDir(m_project + "/runs").entryList(QDir::Dirs | QDir::NoDotAndDotDot).size(), runsBefore + 1);
    auto metricLines = [](const QString& out) {
        QStringList lines;
        for (const QString& l : out.split('\n'))
            if (l.contains("ROC AUC") || l.contains("kNN"))
                lines << l.trimmed();
        return lines;
    };
    QVERIFY2(metricLines(one.out).size() >= 2, qPrintable(one.out));
    QCOMPARE(metricLines(two.out), metricLines(one.out));
    QVERIFY2(two.out.count("probe probe-") == 1, qPrintable(two.out)); // rank 0 alone reports
}

void TestDistributed::aStoppedGroupResumesByHand()
{
    // --nproc 2, stopped (SIGINT to the launcher) after its first checkpoint ...
    QProcess launcher;
    launcher.start(MEDSIAM_CLI, {"pretrain", m_project, "--backbone", "bit-nano", "--size", "32", "--steps", "200", "--batch", "32",
                                 "--head-norm", "gn", "--checkpoint-every", "2", "--monitor-every", "1000", "--nproc", "2"});
    QVERIFY(launcher.waitForStarted());
    QString runs = m_project + "/runs";
    QString id;
    for (int i = 0; i < 600 && id.isEmpty(); ++i) {
        QThread::msleep(50);
        for (const QString& r : QDir(runs).entryList({"simsiam-*"}, QDir::Dirs))
            if (QFile::exists(runs + "/" + r + "/checkpoints/last.safetensors") && !m_seen.contains(r))
                id = r;
    }
    QVERIFY2(!id.isEmpty(), "no checkpoint appeared");
    ::kill(static_cast<pid_t>(launcher.processId()), SIGINT);
    QVERIFY(launcher.waitForFinished(60000));
    const QString out = QString::fromLocal8Bit(launcher.readAllStandardOutput());
    QCOMPARE(launcher.exitCode(), 130);
    QVERIFY2(out.contains("run " + id + " stopped; continue with"), qPrintable(out));
    // ... and resumed by two processes started by hand with torchrun's variables.
    const int port = freePort();
    QProcess r0, r1;
    startCliRank(r0, 0, port, {"resume", m_project, id, "--threads", "1"});
    startCliRank(r1, 1, port, {"resume", m_project, id, "--threads", "1"});
    QVERIFY(r0.waitForFinished(300000) && r1.waitForFinished(60000));
    const QString err0 = QString::fromLocal8Bit(r0.readAllStandardError()), out0 = QString::fromLocal8Bit(r0.readAllStandardOutput());
    QVERIFY2(r0.exitCode() == 0 && r1.exitCode() == 0, qPrintable(err0 + QString::fromLocal8Bit(r1.readAllStandardError())));
    QVERIFY2(err0.contains("resuming run " + id + " from step") && out0.contains("run " + id + " completed"), qPrintable(err0 + out0));
    QFile summary(runs + "/" + id + "/summary.json");
    QVERIFY(summary.open(QIODevice::ReadOnly));
    QVERIFY2(summary.readAll().contains("\"steps_done\": 200"), "the resumed run did not reach its 200 steps");
    m_seen << id;
}

void TestDistributed::aKilledRankStopsTheOtherWithItsName()
{
    const int port = freePort();
    QProcess r0, r1;
    const QStringList args = {"pretrain", m_project, "--backbone", "bit-nano", "--size", "32", "--steps", "2000", "--batch", "32",
                              "--head-norm", "gn", "--monitor-every", "100000", "--threads", "1", "--dist-timeout", "30"};
    startCliRank(r0, 0, port, args);
    startCliRank(r1, 1, port, args);
    // Once both train (rank 0 has made its run), rank 1 is killed.
    QString err0;
    for (int i = 0; i < 600 && !err0.contains("step "); ++i) {
        r0.waitForReadyRead(50);
        err0 += QString::fromLocal8Bit(r0.readAllStandardError());
    }
    QVERIFY2(err0.contains("step "), qPrintable(err0));
    QElapsedTimer t;
    t.start();
    r1.kill();
    QVERIFY(r0.waitForFinished(60000));
    err0 += QString::fromLocal8Bit(r0.readAllStandardError());
    QCOMPARE(r0.exitCode(), 1);
    QVERIFY2(err0.contains("rank 1 stopped answering"), qPrintable(err0));
    QVERIFY2(t.elapsed() < 30000, qPrintable(QString::number(t.elapsed())));
    r1.waitForFinished(10000);
}

QTEST_GUILESS_MAIN(TestDistributed)
#include "TestDistributed.moc"
