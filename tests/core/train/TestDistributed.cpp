// Data-parallel training's process group (train/Distributed): who a process is (torchrun's
// variables, the same by hand, Slurm's), and two real processes on Gloo over loopback: the
// collectives' results, a rank that dies (the other fails within the timeout, naming it), a
// world size the ranks disagree on, and a master nobody runs.
#include "train/Distributed.h"
#include "util/Error.h"

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

} // namespace

class TestDistributed : public QObject {
    Q_OBJECT
private Q_SLOTS:
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

QTEST_GUILESS_MAIN(TestDistributed)
#include "TestDistributed.moc"
