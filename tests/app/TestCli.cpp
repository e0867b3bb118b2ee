// medsiam-cli as a user runs it: help on every command, clear messages and exit status 2
// for bad arguments, and a demo import whose `info` shows the expected counts.
#include <QDirIterator>
#include <QFile>
#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QTest>

#ifdef MEDSIAM_HAVE_DCMTK
#include "io/DicomWriter.h"
#endif

#include "image/Png.h"

#include <QDir>

#include <random>

namespace {
struct Result {
    int code;
    QString out;
    QString err;
};
Result cli(const QStringList& args, const QProcessEnvironment& env = QProcessEnvironment::systemEnvironment())
{
    QProcess p;
    p.setProcessEnvironment(env);
    p.start(QStringLiteral(MEDSIAM_CLI), args);
    if (!p.waitForFinished(120000))
        return {-1, {}, QStringLiteral("timed out")};
    return {p.exitCode(), QString::fromUtf8(p.readAllStandardOutput()), QString::fromUtf8(p.readAllStandardError())};
}
} // namespace

class TestCli : public QObject {
    Q_OBJECT
private Q_SLOTS:
    /// --version says which build this is: LibTorch and the compute it found, the formats it reads,
    /// and the optional libraries built in.
    void versionDescribesTheBuild()
    {
        const Result r = cli({"--version"});
        QCOMPARE(r.code, 0);
        QVERIFY2(QRegularExpression("^medsiam-cli \\d+\\.\\d+\\.\\d+\\nLibTorch \\S+, (CPU only|CUDA \\(\\d+ devices?\\)), \\d+ threads?\\n")
                     .match(r.out)
                     .hasMatch(),
                 qPrintable(r.out));
        QVERIFY2(r.out.contains("formats:") && r.out.contains(" npz"), qPrintable(r.out));
#ifdef MEDSIAM_HAVE_DCMTK
        QVERIFY2(r.out.contains(" dicom") && r.out.contains("DCMTK (DICOM"), qPrintable(r.out));
#endif
        QVERIFY2(r.out.contains("built with:"), qPrintable(r.out));
        QVERIFY2(r.out.contains("\nlicence: Apache-2.0\n"), qPrintable(r.out));
    }

    void helpOnEveryCommand_data()
    {
        QTest::addColumn<QStringList>("args");
        QTest::newRow("top") << QStringList{"--help"};
        QTest::newRow("import") << QStringList{"import", "--help"};
        QTest::newRow("info") << QStringList{"info", "--help"};
        QTest::newRow("model") << QStringList{"model", "--help"};
        QTest::newRow("model info") << QStringList{"model", "info", "--help"};
        QTest::newRow("model convert") << QStringList{"model", "convert", "--help"};
        for (const char* c : {"pretrain", "finetune", "probe", "evaluate", "resume", "runs", "embed", "tsne", "suggest", "gradcam",
                              "report", "split", "train-classifier"})
            QTest::newRow(c) << QStringList{c, "--help"};
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
        QTest::newRow("model without subcommand") << QStringList{"model"} << "a subcommand is needed";
        QTest::newRow("model info without backbone") << QStringList{"model", "info"} << "--backbone is required";
        QTest::newRow("norm on resnet v1") << QStringList{"model", "info", "--backbone", "resnet18", "--norm", "gn_ws"} << "--norm applies to ResNet-v2";
        QTest::newRow("bad in-channels") << QStringList{"model", "info", "--backbone", "bit-nano", "--in-channels", "4"} << "--in-channels";
    }
    void badArgumentsExplainAndExitTwo()
    {
        QFETCH(QStringList, args);
        QFETCH(QString, message);
        const Result r = cli(args);
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains(message), qPrintable(r.err));
    }

    void modelInfoChecksWeights()
    {
        const QString data = QStringLiteral(MEDSIAM_TEST_DATA "/bit_tiny/");
        Result r = cli({"model", "info", "--backbone", "bit-tiny", "--classes", "5", "--weights", data + "tiny_bit.npz", "--size", "64"});
        QCOMPARE(r.code, 0);
        QVERIFY2(r.out.contains(QRegularExpression("stage4 +1 +256 +2 +256x2x2 +135,936")), qPrintable(r.out));
        QVERIFY2(r.out.contains("parameters: 288,672 in the backbone without head, 289,957 with the head"), qPrintable(r.out));
        QVERIFY2(r.out.contains("the weights match: all 45 of the model's parameters and buffers come from the file"), qPrintable(r.out));
        r = cli({"model", "info", "--backbone", "bit-nano", "--weights", data + "tiny_bit.npz"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.out.contains("do NOT match") && r.out.contains("resnet/root_block/standardized_conv2d/kernel: expected [7,7,3,16], found [7,7,3,32]"),
                 qPrintable(r.out));
        r = cli({"model", "info", "--backbone", "bit-tiny", "--weights", data + "README.md"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("is not a weights file medsiam reads"), qPrintable(r.err));
    }

    void modelConvertToGrayBnWsCheckpoint()
    {
        QTemporaryDir tmp;
        const QString out = tmp.path() + "/gray.safetensors";
        Result r = cli({"model", "convert", "--backbone", "bit-tiny", "--norm", "bn_ws", "--in-channels", "1", "--weights",
                        QStringLiteral(MEDSIAM_TEST_DATA "/bit_tiny/tiny_bit_timm_state_dict.pt"), "--out", out, "--simsiam-heads"});
        QVERIFY2(r.code == 0, qPrintable(r.out + r.err));
        QVERIFY2(r.out.contains("GroupNorm scale/shift tensors dropped") && r.out.contains("stem adapted from 3 input channels to 1"),
                 qPrintable(r.out));
        // The checkpoint describes itself: no --backbone needed to read it back.
        r = cli({"model", "info", "--weights", out});
        QVERIFY2(r.code == 0, qPrintable(r.out + r.err));
        QVERIFY2(r.out.contains("bit-tiny: ResNet-v2 (pre-activation), bn_ws, 1 input channel, no classification head"), qPrintable(r.out));
        QVERIFY2(r.out.contains("with the SimSiam heads"), qPrintable(r.out));
        QVERIFY2(r.out.contains("names: medsiam"), qPrintable(r.out));
    }

#ifdef MEDSIAM_HAVE_DCMTK
    void exportsNeverContainPatientNames()
    {
        // DICOM files carrying a patient name, through import, pretraining, embeddings, the t-SNE
        // map, the issue list and the report: no exported or stored run file may contain it.
        QTemporaryDir tmp;
        const QString src = tmp.path() + "/dicom", project = tmp.path() + "/p.medsiam", out = tmp.path() + "/out";
        QVERIFY(QDir().mkpath(src));
        std::mt19937 rng(3);
        for (int i = 0; i < 16; ++i) {
            medsiam::test::DicomSpec spec;
            spec.rows = spec.columns = 32;
            spec.pixels8.resize(32 * 32);
            for (auto& v : spec.pixels8)
                v = static_cast<uint8_t>(rng() % 256);
            spec.patientId = "PAT" + std::to_string(i % 4);
            medsiam::test::writeDicom((src + "/img" + QString::number(i) + ".dcm").toStdString(), spec); // PatientName Doe^Jane
        }
        {
            QFile source(src + "/img0.dcm");
            QVERIFY(source.open(QIODevice::ReadOnly));
            QVERIFY(source.readAll().contains("Doe^Jane")); // the input really carries a name
        }
        QCOMPARE(cli({"import", src, "--project", project, "--size", "32"}).code, 0);
        Result r = cli({"pretrain", project, "--backbone", "bit-nano", "--steps", "2", "--batch", "4", "--size", "32"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const QString run = QDir(project + "/runs").entryList(QDir::Dirs | QDir::NoDotAndDotDot).first();
        QVERIFY(QDir().mkpath(out));
        QCOMPARE(cli({"embed", project, run, "--size", "32", "--csv", out + "/embeddings.csv"}).code, 0);
        r = cli({"tsne", "--project", project, "--run", run, "--perplexity", "3", "--csv", out + "/tsne.csv"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QCOMPARE(cli({"info", project, "--issues-csv", out + "/issues.csv"}).code, 0);
        r = cli({"report", project, run, "--out", out + "/report"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        int files = 0;
        for (const QString& dir : {out, project}) { // the exports, and everything the project stores
            QDirIterator it(dir, QDir::Files, QDirIterator::Subdirectories);
            while (it.hasNext()) {
                QFile f(it.next());
                QVERIFY(f.open(QIODevice::ReadOnly));
                const QByteArray bytes = f.readAll();
                QVERIFY2(!bytes.contains("Doe") && !bytes.contains("Jane"), qPrintable(f.fileName()));
                ++files;
            }
        }
        QVERIFY(files >= 10);
        QVERIFY(QFile::exists(out + "/report/tsne.svg"));
    }
#endif

#ifdef MEDSIAM_HAVE_OPENCV
    /// PNG, JPEG, TIFF and BMP are read by a module loaded on first use. Without it, an import
    /// still takes everything else, and each such file gets a reason that names the module.
    void missingRasterModuleIsExplained()
    {
        QTemporaryDir tmp;
        const QString src = tmp.filePath("src");
        QVERIFY(QDir().mkpath(src));
        medsiam::core::Image8 img(16, 16, 1);
        for (size_t i = 0; i < img.pixels.size(); ++i)
            img.pixels[i] = static_cast<uint8_t>(i);
        medsiam::core::writePng((src + "/a.png").toStdString(), img);
        img.pixels[0] = 255;
        medsiam::core::writePng((src + "/b.png").toStdString(), img);
        QFile::copy(MEDSIAM_SOURCE_DIR "/datasets/pneumoniamnist_28.npz", src + "/demo.npz");

        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert("MEDSIAM_RASTER_MODULE", tmp.filePath("nowhere/libmedsiam_raster.so"));
        const QString project = tmp.filePath("p.medsiam");
        Result r = cli({"import", src, "--project", project, "--size", "32"}, env);
        QCOMPARE(r.code, 0);
        QVERIFY2(r.out.contains("1 imported (5030 items)") && r.out.contains("2 not imported"), qPrintable(r.out));
        r = cli({"info", project, "--issues"});
        const QString reason =
            "PNG/JPEG/TIFF/BMP support could not be loaded: " + tmp.filePath("nowhere/libmedsiam_raster.so") + " does not exist";
        for (const char* name : {"/a.png", "/b.png"})
            QVERIFY2(r.out.contains(src + name + "\t" + reason), qPrintable(r.out));
        // With the module where the build put it, the same import takes the two PNGs.
        r = cli({"import", src, "--project", project});
        QCOMPARE(r.code, 0);
        QVERIFY2(r.out.contains("2 imported (2 items)"), qPrintable(r.out));
    }
#endif

    void infoOnAFolderThatIsNoProject()
    {
        QTemporaryDir tmp;
        const Result r = cli({"info", tmp.path()});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("is not a medsiam project"), qPrintable(r.err));
    }

    /// gradcam on a fine-tuned run writes the overlay and names the class it explains; a run that
    /// is no classifier and an image that is not there are refused in words.
    void gradcamExplainsAFineTunedRun()
    {
        QTemporaryDir tmp;
        const QString project = tmp.filePath("demo.medsiam");
        QCOMPARE(cli({"import", MEDSIAM_SOURCE_DIR "/datasets/pneumoniamnist_28.npz", "--project", project, "--size", "32"}).code, 0);
        const QStringList tiny = {"--backbone", "bit-nano", "--steps", "2", "--batch", "16", "--size", "16"};
        Result r = cli(QStringList{"finetune", project, "--micro-batch", "16"} + tiny);
        QVERIFY2(r.code == 0, qPrintable(r.err));
        r = cli(QStringList{"pretrain", project} + tiny);
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QString tuned, simsiam;
        for (const QString& d : QDir(project + "/runs").entryList(QDir::Dirs | QDir::NoDotAndDotDot))
            (d.startsWith("finetune") ? tuned : simsiam) = d;
        QVERIFY(!tuned.isEmpty() && !simsiam.isEmpty());
        const QString png = tmp.filePath("cam.png");
        r = cli({"gradcam", project, tuned, "--image", "100", "--out", png});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY2(QRegularExpression("image 100: explained class (normal|pneumonia); normal 0\\.\\d+ pneumonia 0\\.\\d+").match(r.out).hasMatch(),
                 qPrintable(r.out));
        QFile f(png);
        QVERIFY(f.open(QIODevice::ReadOnly) && f.readAll().mid(1, 3) == "PNG");
        r = cli({"gradcam", project, simsiam, "--image", "100", "--out", png});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("is a simsiam-pretrain run; choose a fine-tuned (finetune) run"), qPrintable(r.err));
        r = cli({"gradcam", project, tuned, "--image", "999999", "--out", png});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("image 999999 is not in the project's cache"), qPrintable(r.err));
        // Naming a run and keeping notes on it: the listing shows both, the id stays.
        r = cli({"runs", project, "--describe", tuned, "--name", "  tiny BiT check  ", "--note", "2 steps only\nnot for use"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("run " + tuned + ": tiny BiT check"), qPrintable(r.out));
        r = cli({"runs", project});
        QVERIFY2(r.out.contains(tuned), qPrintable(r.out));
        QVERIFY2(r.out.contains("  name: tiny BiT check\n"), qPrintable(r.out));
        QVERIFY2(r.out.contains("  notes: 2 steps only\n         not for use"), qPrintable(r.out));
        QVERIFY(QFile::exists(project + "/runs/" + tuned + "/notes.json"));
        // --note alone keeps the name.
        QCOMPARE(cli({"runs", project, "--describe", tuned, "--note", "kept"}).code, 0);
        r = cli({"runs", project});
        QVERIFY2(r.out.contains("  name: tiny BiT check\n") && r.out.contains("  notes: kept\n"), qPrintable(r.out));
        r = cli({"runs", project, "--name", "x"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("--name and --note go with --describe RUN"), qPrintable(r.err));
        r = cli({"runs", project, "--describe", "no-such-run", "--name", "x"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("no-such-run"), qPrintable(r.err));
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

    /// The guided path says what the project has and what is missing, and refuses a plan it
    /// cannot keep, before anything trains.
    void trainClassifierChecksFirst()
    {
        QTemporaryDir tmp;
        QVERIFY(QDir().mkpath(tmp.filePath("empty")));
        const QString empty = tmp.filePath("empty.medsiam");
        QCOMPARE(cli({"import", tmp.filePath("empty"), "--project", empty}).code, 0);
        Result r = cli({"train-classifier", empty, "--check"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.out.contains("missing: The project has no images yet"), qPrintable(r.out));
        const QString project = tmp.filePath("demo.medsiam");
        QCOMPARE(cli({"import", MEDSIAM_SOURCE_DIR "/datasets/pneumoniamnist_28.npz", "--project", project, "--size", "32"}).code, 0);
        r = cli({"train-classifier", project, "--check"});
        QCOMPARE(r.code, 0);
        QVERIFY2(r.out.contains("5030 images, 5030 labeled, 0 unlabeled"), qPrintable(r.out));
        QVERIFY2(r.out.contains("normal               train 388, val 135, test 234"), qPrintable(r.out));
        QVERIFY2(!r.out.contains("missing:"), qPrintable(r.out));
        r = cli({"train-classifier", project, "--mode", "fast"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("--mode is quick or best, not 'fast'"), qPrintable(r.err));
        r = cli({"train-classifier", project, "--budget", "90s"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("at least 2 minutes"), qPrintable(r.err));
        QVERIFY2(cli({"runs", project}).out.contains("no runs"), "nothing was trained");
    }
};

QTEST_APPLESS_MAIN(TestCli)
#include "TestCli.moc"
