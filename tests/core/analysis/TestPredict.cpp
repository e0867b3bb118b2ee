// A classifier put to work: predictions of a project's unlabeled images (stored under the run and
// equal to a fresh forward pass), of new folders (decoded as an import would, unreadable files
// listed with their reason), the review queue's order, and the command line's tables, which name
// no patient and no path unless asked.
#include "TestSupport.h"

#include "analysis/Predict.h"
#include "data/Augment.h"
#include "image/Png.h"
#include "models/Checkpoint.h"
#include "models/WeightImport.h"
#include "project/Project.h"
#include "project/RunStore.h"
#include "system/Runtime.h"
#include "train/Features.h"
#include "train/FinetuneJob.h"
#include "util/Csv.h"
#include "util/Error.h"
#ifdef MEDSIAM_TEST_DICOM
#include "io/DicomWriter.h"
#endif

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include <QDir>
#include <QFile>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <random>

using namespace medsiam::core;
using medsiam::test::errorOf;

namespace {

/// A 28 px disc (class 0) or ring (class 1) with noise, as in the shapes project.
Image8 shape(int cls, std::mt19937& rng)
{
    std::uniform_real_distribution<double> centre(10, 18), radius(5, 9);
    std::normal_distribution<double> noise(0, 20);
    const double cx = centre(rng), cy = centre(rng), r = radius(rng);
    Image8 img(28, 28, 1);
    for (int y = 0; y < 28; ++y)
        for (int x = 0; x < 28; ++x) {
            const double d = std::hypot(x - cx, y - cy);
            const bool on = cls == 0 ? d < r : std::abs(d - r) < 1.5;
            img.pixels[static_cast<size_t>(y * 28 + x)] = static_cast<uint8_t>(std::clamp(40 + 160 * on + noise(rng), 0.0, 255.0));
        }
    return img;
}

struct CliResult {
    int code = -1;
    QString out, err;
};

CliResult cli(const QStringList& args)
{
    QProcess p;
    p.start(QStringLiteral(MEDSIAM_CLI), args);
    p.waitForFinished(300000);
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1, QString::fromUtf8(p.readAllStandardOutput()),
            QString::fromUtf8(p.readAllStandardError())};
}

} // namespace

class TestPredict : public QObject {
    Q_OBJECT
    QTemporaryDir m_tmp;
    QString m_project;
    std::string m_run;
    std::vector<int64_t> m_unlabeled; ///< train images whose labels the test took away

private Q_SLOTS:
    void initTestCase()
    {
        configureThreads(2);
        m_project = medsiam::test::makeShapesProject(m_tmp.path(), QStringLiteral(MEDSIAM_CLI));
        QVERIFY2(!m_project.isEmpty(), "could not build the shapes project");
        auto project = Project::open(m_project.toStdString());
        // 30 train images lose their labels: the images a person would review.
        std::vector<std::pair<int64_t, int64_t>> clear;
        for (const auto& item : project->trainingItems())
            if (item.split == "train" && clear.size() < 30)
                clear.emplace_back(item.imageId, 0);
        project->setLabels(clear, "user");
        for (const auto& [id, cls] : clear)
            m_unlabeled.push_back(id);
        FinetuneConfig c;
        c.model.backbone = backbonePreset("bit-nano");
        c.model.backbone.inChannels = 1;
        c.model.backbone.numClasses = 2;
        c.steps = 40;
        c.batch = 32;
        c.lr = 1.0;
        c.crop = 32;
        m_run = FinetuneJob::create(*project, c);
        FinetuneJob job(*project, m_run);
        JobObserver quiet;
        JobControl control;
        QCOMPARE(job.run(quiet, control), JobState::Completed);
    }

    /// The unlabeled images are classified and stored under the run; the stored probabilities
    /// are what the selected checkpoint computes for those images, image by image.
    void storedPredictionsEqualAFreshComputation()
    {
        auto project = Project::open(m_project.toStdString());
        const auto set = predictProject(*project, m_run, {});
        QCOMPARE(set.images.size(), m_unlabeled.size());
        QCOMPARE(set.classNames, (std::vector<std::string>{"0", "1"}));
        for (const auto& i : set.images) {
            QCOMPARE(i.truth, -1);
            QCOMPARE(i.split, std::string("train"));
            QCOMPARE(i.probabilities.size(), size_t(2));
            QVERIFY(std::abs(i.probabilities[0] + i.probabilities[1] - 1.0f) < 1e-5f);
            QCOMPARE(i.predicted, i.probabilities[1] > i.probabilities[0] ? 1 : 0);
            QVERIFY(std::abs(i.margin - std::abs(i.probabilities[1] - i.probabilities[0])) < 1e-6);
        }
        // A fresh forward pass of the checkpoint, image by image.
        Network net = loadNetwork(RunStore(*project).selectedCheckpoint(m_run));
        net->eval();
        ImageSet data(*project);
        const int size = evaluationSize(*project, m_run);
        std::map<int64_t, std::vector<float>> stored;
        for (const auto& p : project->predictions(m_run))
            stored[p.imageId] = p.probabilities;
        torch::NoGradGuard guard;
        int agreed = 0;
        for (int64_t id : m_unlabeled) {
            QVERIFY2(stored.count(id), "an unlabeled image's prediction was not stored");
            const auto x = makeBatch(data.cache(), {data.cache().indexOf(id)}, size, 1, AugmentConfig::none(),
                                     inputNormalizationFor(net->config().backbone), 0, 0, 0);
            const auto p = at::softmax(net->backbone().forward(x), 1).contiguous();
            for (int c = 0; c < 2; ++c)
                QVERIFY2(std::abs(p[0][c].item<float>() - stored[id][static_cast<size_t>(c)]) < 1e-5f,
                         qPrintable(QString("image %1 class %2: stored %3, computed %4").arg(id).arg(c).arg(stored[id][size_t(c)]).arg(p[0][c].item<float>())));
            ++agreed;
        }
        QCOMPARE(agreed, int(m_unlabeled.size()));
        // The evaluation's val and test rows stay beside them.
        QCOMPARE(project->predictions(m_run).size(), m_unlabeled.size() + 80);
        // Evaluating again (labels corrected) keeps the stored predictions of unlabeled images.
        evaluateRun(*project, m_run);
        QCOMPARE(project->predictions(m_run).size(), m_unlabeled.size() + 80);
    }

    void scopesChooseTheImages()
    {
        auto project = Project::open(m_project.toStdString(), ProjectAccess::ReadOnly);
        PredictOptions o;
        parsePredictScope("test", o);
        QCOMPARE(predictProject(*project, m_run, o).images.size(), size_t(40));
        parsePredictScope("all", o);
        QCOMPARE(predictProject(*project, m_run, o).images.size(), size_t(240));
        parsePredictScope("none", o);
        QCOMPARE(predictProject(*project, m_run, o).images.size(), size_t(0));
        QVERIFY(errorOf([&] { parsePredictScope("everything", o); }).find("unlabeled, all, or a split") != std::string::npos);
        // Only a classifier predicts.
        QVERIFY(errorOf([&] { predictProject(*project, "no-such-run", {}); }).find("no run 'no-such-run'") != std::string::npos);
    }

    /// Least certain first: the margins never fall along the queue, and an image that gets a
    /// label leaves it.
    void reviewQueueIsLeastCertainFirst()
    {
        auto project = Project::open(m_project.toStdString());
        predictProject(*project, m_run, {});
        auto queue = reviewQueue(*project, m_run);
        QCOMPARE(queue.size(), m_unlabeled.size());
        for (size_t i = 1; i < queue.size(); ++i)
            QVERIFY(queue[i - 1].margin <= queue[i].margin);
        qInfo("review queue: margin %.3f first, %.3f last", queue.front().margin, queue.back().margin);
        const int64_t first = queue.front().imageId;
        project->setLabel(first, project->classes()[0].id, "user");
        queue = reviewQueue(*project, m_run);
        QCOMPARE(queue.size(), m_unlabeled.size() - 1);
        for (const auto& i : queue)
            QVERIFY(i.imageId != first);
        project->clearLabel(first);
    }

    /// New files are classified without entering the project; a file that cannot be read is a
    /// row with its reason; the table names no patient and no path unless asked.
    void foldersAreClassifiedWithoutJoiningTheProject()
    {
        const QString folder = m_tmp.path() + "/new-studies/DOE_JANE";
        QVERIFY(QDir().mkpath(folder));
        std::mt19937 rng(11);
        for (int i = 0; i < 6; ++i)
            writePng(QString("%1/case%2.png").arg(folder).arg(i).toStdString(), shape(i % 2, rng));
        medsiam::test::writeBytes(folder + "/broken.png", {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R', 1, 2});
        int expected = 6;
#ifdef MEDSIAM_TEST_DICOM
        medsiam::test::DicomSpec spec;
        spec.rows = spec.columns = 28;
        spec.pixels8 = shape(0, rng).pixels;
        spec.patientId = "PATIENT-4711";
        spec.sopUid = "1.2.826.0.1.3680043.2.1125.77";
        medsiam::test::writeDicom((folder + "/slice.dcm").toStdString(), spec);
        ++expected;
#endif
        const auto before = Project::open(m_project.toStdString(), ProjectAccess::ReadOnly)->catalogue().size();
        {
            auto project = Project::open(m_project.toStdString(), ProjectAccess::ReadOnly);
            PredictOptions o;
            o.gradcamDir = (m_tmp.path() + "/cams").toStdString();
            const auto set = predictFolders(*project, m_run, {(m_tmp.path() + "/new-studies").toStdString()}, o);
            QCOMPARE(int(set.classified()), expected);
            QCOMPARE(set.images.size(), size_t(expected + 1));
            int problems = 0;
            for (const auto& i : set.images) {
                if (i.problem.empty())
                    continue;
                ++problems;
                QVERIFY(i.path.find("broken.png") != std::string::npos);
                QCOMPARE(i.predicted, -1);
            }
            QCOMPARE(problems, 1);
            QCOMPARE(QDir(m_tmp.path() + "/cams").entryList(QDir::Files).size(), qsizetype(expected));
            // The discs and rings are told apart by a classifier that learnt them.
            int right = 0;
            for (const auto& i : set.images)
                if (i.predicted >= 0 && i.path.find("case") != std::string::npos)
                    right += i.predicted == std::stoi(i.path.substr(i.path.find("case") + 4, 1)) % 2;
            qInfo("new folder: %d of 6 shapes classified right", right);
            QVERIFY(right >= 5);
        }
        QCOMPARE(Project::open(m_project.toStdString(), ProjectAccess::ReadOnly)->catalogue().size(), before);

        // The command line, both forms.
        const QString runDir = m_project + "/runs/" + QString::fromStdString(m_run);
        const QString csv = m_tmp.path() + "/new.csv";
        auto r = cli({"predict", "--run-dir", runDir, m_tmp.path() + "/new-studies", "--out", csv});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY2(r.err.contains("broken.png"), qPrintable(r.err)); // listed, with its reason
        const CsvTable table = readCsv(csv.toStdString());
        QCOMPARE(table.header, (std::vector<std::string>{"id", "split", "label", "predicted", "p_0", "p_1", "margin", "entropy", "problem"}));
        QCOMPARE(int(table.rows.size()), expected + 1);
        QFile f(csv);
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QByteArray all = f.readAll();
        for (const char* secret : {"DOE_JANE", "case0", "PATIENT-4711", "1.2.826.0.1.3680043.2.1125.77"})
            QVERIFY2(!all.contains(secret), secret);
        int withReason = 0; // the unreadable file is a row, with its reason
        for (const auto& row : table.rows)
            if (!row.back().empty() && row[3].empty())
                ++withReason;
        QCOMPARE(withReason, 1);
        r = cli({"predict", "--run-dir", runDir, m_tmp.path() + "/new-studies", "--out", csv, "--identify"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QFile g(csv);
        QVERIFY(g.open(QIODevice::ReadOnly));
        const QByteArray identified = g.readAll();
        QVERIFY(identified.startsWith("id,path,sop_instance_uid,"));
        QVERIFY(identified.contains("case0.png"));
#ifdef MEDSIAM_TEST_DICOM
        QVERIFY(identified.contains("1.2.826.0.1.3680043.2.1125.77"));
#endif
        QVERIFY(!identified.contains("PATIENT-4711")); // patient ids never

        r = cli({"predict", m_project, "--run", QString::fromStdString(m_run), "--split", "test", "--out", csv});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("classified 40 images"), qPrintable(r.out));
        QCOMPARE(readCsv(csv.toStdString()).rows.size(), size_t(40));
        r = cli({"predict", m_project, "--run", QString::fromStdString(m_run)}); // the table to stdout
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY(r.out.startsWith("id,split,label,predicted,p_0,p_1,margin,entropy,problem\n"));
        QCOMPARE(r.out.count('\n'), int(m_unlabeled.size()) + 1);

        // Mistakes get a message and the usage status.
        r = cli({"predict", m_project, "--run", QString::fromStdString(m_run), "--run-dir", runDir});
        QCOMPARE(r.code, 2);
        r = cli({"predict", "--run-dir", m_tmp.path(), m_tmp.path() + "/new-studies"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("is not a run folder"), qPrintable(r.err));
        r = cli({"predict", "--run-dir", runDir, m_tmp.path() + "/no-such-folder"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("no-such-folder"), qPrintable(r.err));
    }

    /// export: the classifier in both namings, read back bit for bit, with a model card that
    /// counts images and names no patient.
    void exportWritesWeightsAndAModelCard()
    {
        const QString runDir = m_project + "/runs/" + QString::fromStdString(m_run);
        auto project = Project::open(m_project.toStdString(), ProjectAccess::ReadOnly);
        Network trained = loadNetwork(RunStore(*project).selectedCheckpoint(m_run));
        for (const char* format : {"timm", "bit-npz"}) {
            const QString out = m_tmp.path() + "/export/classifier" + (QString(format) == "timm" ? ".safetensors" : ".npz");
            const auto r = cli({"export", runDir, "--format", format, "--out", out});
            QVERIFY2(r.code == 0, qPrintable(r.err));
            QVERIFY2(r.out.contains("2 classes") && r.out.contains("model card:"), qPrintable(r.out));
            auto back = makeBackbone(trained->backbone().config());
            loadBackboneWeights(*back, out.toStdString());
            std::map<std::string, at::Tensor> got;
            for (const auto& p : back->named_parameters(true))
                got[p.key()] = p.value();
            for (const auto& b : back->named_buffers(true))
                got[b.key()] = b.value();
            int compared = 0;
            for (const auto& p : trained->backbone().named_parameters(true)) {
                QVERIFY2(at::equal(p.value(), got.at(p.key())), p.key().c_str());
                ++compared;
            }
            for (const auto& b : trained->backbone().named_buffers(true)) {
                QVERIFY2(at::equal(b.value(), got.at(b.key())), b.key().c_str());
                ++compared;
            }
            QVERIFY(compared > 20);
        }
        // One card per file: the second export did not overwrite the first one's.
        QFile card(m_tmp.path() + "/export/model_card.md");
        QVERIFY(card.open(QIODevice::ReadOnly));
        const QString text = QString::fromUtf8(card.readAll());
        QVERIFY(text.startsWith("# Model card: classifier.safetensors"));
        QVERIFY(QFile::exists(m_tmp.path() + "/export/classifier.model_card.md"));
        // Counts per class and split as the project holds them: 160 train images less the 30
        // whose labels were taken away, 80 per class in val and test together.
        int trainLabeled = 0;
        for (const auto& item : project->trainingItems())
            trainLabeled += item.split == "train" && item.classIndex >= 0;
        QCOMPARE(trainLabeled, 130);
        QVERIFY2(text.contains("| class | train | val | test | no split |"), qPrintable(text));
        QVERIFY2(text.contains("30 more images carry no label"), qPrintable(text));
        QVERIFY2(text.contains("ROC AUC") && text.contains("| test | 40 |"), qPrintable(text));
        QVERIFY(text.contains("## Intended use") && text.contains("not a medical device"));
        QVERIFY(text.contains("Input: 32 x 32 px"));
        // A probe has no weights of its own; an unknown format is a usage error.
        auto r = cli({"export", runDir, "--format", "onnx", "--out", m_tmp.path() + "/x.onnx"});
        QCOMPARE(r.code, 2);
        r = cli({"export", m_project, "no-such-run", "--out", m_tmp.path() + "/x.safetensors"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("no run 'no-such-run'"), qPrintable(r.err));
    }
};

QTEST_GUILESS_MAIN(TestPredict)
#include "TestPredict.moc"
