// medsiam-cli as a user runs it: help on every command, clear messages and exit status 2
// for bad arguments, and a demo import whose `info` shows the expected counts.
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

namespace {
struct Result {
    int code;
    QString out;
    QString err;
};
Result cli(const QStringList& args)
{
    QProcess p;
    p.start(QStringLiteral(MEDSIAM_CLI), args);
    if (!p.waitForFinished(120000))
        return {-1, {}, QStringLiteral("timed out")};
    return {p.exitCode(), QString::fromUtf8(p.readAllStandardOutput()), QString::fromUtf8(p.readAllStandardError())};
}
} // namespace

class TestCli : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void helpOnEveryCommand_data()
    {
        QTest::addColumn<QStringList>("args");
        QTest::newRow("top") << QStringList{"--help"};
        QTest::newRow("import") << QStringList{"import", "--help"};
        QTest::newRow("info") << QStringList{"info", "--help"};
    }
    void helpOnEveryCommand()
    {
        QFETCH(QStringList, args);
        const Result r = cli(args);
        QCOMPARE(r.code, 0);
        QVERIFY2(r.out.contains("usage: medsiam-cli"), qPrintable(r.out));
    }

    void badArgumentsExplainAndExitTwo_data()
    {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<QString>("message");
        QTest::newRow("no command") << QStringList{} << "usage:";
        QTest::newRow("unknown command") << QStringList{"frobnicate"} << "unknown command 'frobnicate'";
        QTest::newRow("unknown option") << QStringList{"info", "x", "--colour"} << "unknown option --colour";
        QTest::newRow("missing project") << QStringList{"import", "/tmp"} << "--project DIR is required";
        QTest::newRow("bad size") << QStringList{"import", "/tmp", "--project", "p", "--size", "big"} << "--size must be a whole number";
        QTest::newRow("bad axis") << QStringList{"import", "/tmp", "--project", "p", "--axis", "oblique"} << "--axis must be";
        QTest::newRow("labels without key") << QStringList{"import", "/tmp", "--project", "p", "--labels", "l.csv"} << "--labels needs --key";
        QTest::newRow("missing value") << QStringList{"import", "/tmp", "--project"} << "--project needs a value";
    }
    void badArgumentsExplainAndExitTwo()
    {
        QFETCH(QStringList, args);
        QFETCH(QString, message);
        const Result r = cli(args);
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains(message), qPrintable(r.err));
    }

    void infoOnAFolderThatIsNoProject()
    {
        QTemporaryDir tmp;
        const Result r = cli({"info", tmp.path()});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("is not a medsiam project"), qPrintable(r.err));
    }

    void demoImportAndInfo()
    {
        QTemporaryDir tmp;
        const QString project = tmp.filePath("demo.medsiam");
        Result r = cli({"import", MEDSIAM_SOURCE_DIR "/datasets/pneumoniamnist_28.npz", "--project", project, "--size", "32"});
        QCOMPARE(r.code, 0);
        QVERIFY2(r.out.contains("1 imported (5030 items)"), qPrintable(r.out));
        r = cli({"info", project});
        QCOMPARE(r.code, 0);
        QVERIFY2(r.out.contains("5030 items"), qPrintable(r.out));
        QVERIFY2(r.out.contains("train 3882, val 524, test 624"), qPrintable(r.out));
        QVERIFY2(r.out.contains("normal"), qPrintable(r.out));
        // Importing again adds nothing.
        r = cli({"import", MEDSIAM_SOURCE_DIR "/datasets/pneumoniamnist_28.npz", "--project", project});
        QCOMPARE(r.code, 0);
        QVERIFY2(r.out.contains("0 imported (0 items), 1 already in the project"), qPrintable(r.out));
    }
};

QTEST_APPLESS_MAIN(TestCli)
#include "TestCli.moc"
