// The networks and their weight import: medsiam's ResNet-v2 must reproduce timm's independent
// implementation from every published weight format, and every switch must train and round-trip.
#include "TestSupport.h"

#include "io/NpyArray.h"
#include "io/TensorFile.h"
#include "models/Checkpoint.h"
#include "models/Network.h"
#include "models/SyncBatchNorm.h"
#include "models/TorchTensors.h"
#include "models/WeightImport.h"
#include "system/Runtime.h"
#include "util/AtomicFile.h"
#include "util/Error.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <condition_variable>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>

using namespace medsiam::core;
using medsiam::test::errorOf;

namespace {

QString fixture(const QString& name) { return QStringLiteral(MEDSIAM_TEST_DATA "/bit_tiny/") + name; }

at::Tensor loadNpy(const QString& path)
{
    NpyArray a = loadNpyFile(path.toStdString());
    RawTensor raw;
    raw.dtype = DType::F32;
    raw.shape = a.shape;
    raw.data = a.data;
    return rawToTorch(raw);
}

BackboneConfig tinyConfig(BackboneNorm norm = BackboneNorm::GnWs, int inChannels = 3, int classes = 5)
{
    BackboneConfig b = backbonePreset("bit-tiny");
    b.norm = norm;
    b.inChannels = inChannels;
    b.numClasses = classes;
    return b;
}

void writeFile(const QString& path, const std::string& bytes)
{
    std::ofstream out(path.toStdString(), std::ios::binary);
    out << bytes;
}

/// Two "ranks" on two threads of this process: each sum waits for the other's tensors and
/// hands both the total, as an all-reduce does.
class TwoThreadSum {
public:
    class Rank : public BatchStatsSum {
    public:
        Rank(TwoThreadSum& all, int rank) : m_all(all), m_rank(rank) {}
        void sum(std::vector<at::Tensor>& tensors) const override { m_all.reduce(m_rank, tensors); }

    private:
        TwoThreadSum& m_all;
        int m_rank;
    };
    int calls = 0; ///< collectives completed

private:
    void reduce(int rank, std::vector<at::Tensor>& tensors)
    {
        std::unique_lock lock(m_mutex);
        const int round = m_round;
        m_in[rank] = &tensors;
        if (++m_arrived == 2) {
            for (size_t i = 0; i < tensors.size(); ++i) {
                const at::Tensor total = (*m_in[0])[i] + (*m_in[1])[i];
                (*m_in[0])[i] = total.clone();
                (*m_in[1])[i] = total.clone();
            }
            m_arrived = 0;
            ++m_round;
            ++calls;
            m_done.notify_all();
        } else {
            m_done.wait(lock, [&] { return m_round != round; });
        }
    }
    std::mutex m_mutex;
    std::condition_variable m_done;
    std::vector<at::Tensor>* m_in[2] = {nullptr, nullptr};
    int m_arrived = 0, m_round = 0;
};

/// Identity: one process alone.
class AloneSum : public BatchStatsSum {
public:
    void sum(std::vector<at::Tensor>&) const override {}
};

} // namespace

class TestModels : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { configureThreads(2); }

    void fixtureMatchesReference_data()
    {
        QTest::addColumn<QString>("file");
        QTest::newRow("official BiT .npz") << "tiny_bit.npz";
        QTest::newRow("timm safetensors") << "tiny_bit_timm.safetensors";
        QTest::newRow("torch.save plain dict") << "tiny_bit_timm_plain_dict.pt";
        QTest::newRow("torch.save OrderedDict") << "tiny_bit_timm_state_dict.pt";
    }
    void fixtureMatchesReference()
    {
        QFETCH(QString, file);
        // The architecture comes from the fixture's config.json, not from our preset.
        QFile cfgFile(fixture("config.json"));
        QVERIFY(cfgFile.open(QIODevice::ReadOnly));
        const QJsonObject cfg = QJsonDocument::fromJson(cfgFile.readAll()).object();
        BackboneConfig b;
        b.name = "fixture";
        for (const auto v : cfg["layers"].toArray())
            b.layers.push_back(v.toInt());
        for (const auto v : cfg["channels"].toArray())
            b.channels.push_back(v.toInt());
        b.stemChannels = cfg["stem_chs"].toInt();
        b.numClasses = cfg["num_classes"].toInt();
        b.gnGroups = cfg["gn_groups"].toInt();
        b.gnEps = cfg["gn_eps"].toDouble();
        b.wsEps = cfg["std_conv_eps"].toDouble();
        auto backbone = makeBackbone(b);
        const auto report = loadBackboneWeights(*backbone, fixture(file).toStdString());
        QCOMPARE(report.loaded, report.modelTensors);
        backbone->eval();
        torch::NoGradGuard guard;
        const auto x = loadNpy(fixture("input.npy"));
        const auto features = backbone->forwardFeatures(x);
        const auto logits = backbone->forwardHead(features);
        const double dPre = (features - loadNpy(fixture("expected_prelogits.npy"))).abs().max().item<double>();
        const double dLogits = (logits - loadNpy(fixture("expected_logits.npy"))).abs().max().item<double>();
        qInfo("%s: max |prelogits - expected| = %.3g, max |logits - expected| = %.3g", qPrintable(file), dPre, dLogits);
        QVERIFY2(dPre < 1e-4, qPrintable(QString::number(dPre)));
        QVERIFY2(dLogits < 1e-4, qPrintable(QString::number(dLogits)));
    }

    void r50x1LayoutMatchesOfficialFile()
    {
        QFile f(fixture("bit_m_r50x1_npz_layout.json"));
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QJsonObject layout = QJsonDocument::fromJson(f.readAll()).object();
        QCOMPARE(layout.size(), 153);
        BackboneConfig b = backbonePreset("bit-r50x1");
        b.numClasses = 21843;
        auto backbone = makeBackbone(b);
        const auto expected = expectedBitLayout(*backbone);
        QCOMPARE(int(expected.size()), layout.size());
        int64_t layoutParams = 0, headParams = 0;
        for (auto it = layout.begin(); it != layout.end(); ++it) {
            int64_t n = 1;
            for (const auto d : it.value().toArray())
                n *= d.toInt();
            layoutParams += n;
            if (it.key().startsWith("resnet/head/"))
                headParams += n;
        }
        for (const auto& [key, shape] : expected) {
            QVERIFY2(layout.contains(QString::fromStdString(key)), key.c_str());
            std::vector<int64_t> want;
            for (const auto d : layout[QString::fromStdString(key)].toArray())
                want.push_back(d.toInt());
            QVERIFY2(want == shape, (key + ": layout " + shapeText(want) + ", model " + shapeText(shape)).c_str());
        }
        auto noHead = b;
        noHead.numClasses = 0;
        QCOMPARE(parameterCount(*makeBackbone(noHead)), layoutParams - headParams);
        QCOMPARE(noHead.parameterCount(false), layoutParams - headParams);
        qInfo("BiT-M-R50x1: %d keys, backbone %lld parameters, head %lld", layout.size(),
              static_cast<long long>(layoutParams - headParams), static_cast<long long>(headParams));
    }

    void analyticParameterCountsAreExact()
    {
        for (const char* name : {"bit-nano", "bit-tiny", "bit-small", "bit-r26x1", "resnet-nano", "resnet18", "resnet50"}) {
            for (int classes : {0, 3}) {
                BackboneConfig b = backbonePreset(name);
                b.numClasses = classes;
                b.inChannels = classes ? 1 : 3;
                QCOMPARE(b.parameterCount(true), parameterCount(*makeBackbone(b)));
            }
        }
        QCOMPARE(backbonePreset("resnet18").parameterCount(false), int64_t(11176512)); // torchvision minus its fc
        QCOMPARE(backbonePreset("resnet50").parameterCount(false), int64_t(23508032));
    }

    void variantsTrainAndRoundTrip_data()
    {
        QTest::addColumn<QString>("backbone");
        QTest::addColumn<QString>("norm");
        QTest::addColumn<QString>("headNorm");
        QTest::addColumn<int>("inChannels");
        QTest::newRow("gn_ws, bn heads") << "bit-nano" << "gn_ws" << "bn" << 3;
        QTest::newRow("bn_ws, gn heads") << "bit-nano" << "bn_ws" << "gn" << 1;
        QTest::newRow("bn, ln heads") << "bit-nano" << "bn" << "ln" << 3;
        QTest::newRow("gn_ws gray, no head norm") << "bit-nano" << "gn_ws" << "none" << 1;
        QTest::newRow("resnet v1") << "resnet-nano" << "bn" << "bn" << 3;
    }
    void variantsTrainAndRoundTrip()
    {
        QFETCH(QString, backbone);
        QFETCH(QString, norm);
        QFETCH(QString, headNorm);
        QFETCH(int, inChannels);
        ModelConfig config;
        config.backbone = backbonePreset(backbone.toStdString());
        config.backbone.norm = parseBackboneNorm(norm.toStdString());
        config.backbone.inChannels = inChannels;
        config.backbone.numClasses = 2;
        config.simsiamHeads = true;
        config.heads = defaultHeads(config.backbone);
        config.heads.norm = parseHeadNorm(headNorm.toStdString());
        at::manual_seed(1);
        Network net(config);
        net->train();
        const auto x1 = at::randn({4, inChannels, 32, 32}), x2 = at::randn({4, inChannels, 32, 32});
        auto out = net->simsiam(x1, x2);
        QCOMPARE(out.p1.sizes().vec(), (std::vector<int64_t>{4, config.heads.projectorDim}));
        {
            // The views as one pass per view (without BatchNorm simsiam() runs both in one pass):
            // the same projections and predictions.
            at::NoGradGuard guard;
            net->eval(); // BatchNorm variants: running statistics, so one view alone gives the same
            const auto both = net->simsiam(x1, x2);
            const auto z2 = net->project(net->backbone().forwardFeatures(x2));
            QVERIFY((both.z2 - z2).abs().max().item<double>() < 1e-5);
            QVERIFY((both.p2 - net->predict(z2)).abs().max().item<double>() < 1e-5);
            net->train();
        }
        auto loss = -(at::cosine_similarity(out.p1, out.z2.detach(), 1).mean() + at::cosine_similarity(out.p2, out.z1.detach(), 1).mean()) / 2 +
                    net->classify(x1).pow(2).mean();
        loss.backward();
        QVERIFY(std::isfinite(loss.item<double>()));
        int nonzero = 0, total = 0;
        for (const auto& p : net->named_parameters()) {
            ++total;
            // Every parameter is connected to the loss; zero-started parts (the head, v1's last BN
            // scale) may get exactly zero gradient on the first step.
            QVERIFY2(p.value().grad().defined(), p.key().c_str());
            QVERIFY(at::isfinite(p.value().grad()).all().item<bool>());
            if (p.value().grad().abs().sum().item<double>() > 0)
                ++nonzero;
        }
        QVERIFY2(nonzero >= total / 2, qPrintable(QString("%1 of %2 parameters got a gradient").arg(nonzero).arg(total)));

        // A fake optimizer state and the RNG go through the checkpoint too.
        TrainingState state;
        state.step = 123;
        state.epoch = 4;
        for (const auto& p : net->named_parameters())
            state.optimizer.emplace_back(p.key() + ".momentum", at::randn_like(p.value()));
        state.extraJson = R"({"lr": 0.05})";
        captureRng(state);
        const auto expectedNext = at::randn({3});
        QTemporaryDir dir;
        const std::string path = (dir.path() + "/ckpt.safetensors").toStdString();
        saveCheckpoint(path, *net, state);

        TrainingState restored;
        Network back = loadNetwork(path, &restored);
        QCOMPARE(back->config().toJson(), config.toJson());
        auto a = net->named_parameters(true), b = back->named_parameters(true);
        QCOMPARE(a.size(), b.size());
        for (const auto& p : a)
            QVERIFY2(at::equal(p.value(), b[p.key()]), p.key().c_str());
        auto ba = net->named_buffers(true), bb = back->named_buffers(true);
        QCOMPARE(ba.size(), bb.size());
        for (const auto& p : ba)
            QVERIFY2(at::equal(p.value(), bb[p.key()]), p.key().c_str());
        QCOMPARE(restored.step, int64_t(123));
        QCOMPARE(restored.epoch, int64_t(4));
        QCOMPARE(restored.extraJson, state.extraJson);
        QCOMPARE(restored.optimizer.size(), state.optimizer.size());
        for (size_t i = 0; i < state.optimizer.size(); ++i) {
            QCOMPARE(restored.optimizer[i].first, state.optimizer[i].first);
            QVERIFY(at::equal(restored.optimizer[i].second, state.optimizer[i].second));
        }
        restoreRng(restored);
        QVERIFY(at::equal(at::randn({3}), expectedNext));
        // Same outputs in eval mode, bit for bit.
        net->eval();
        back->eval();
        torch::NoGradGuard guard;
        QVERIFY(at::equal(net->backbone().forwardFeatures(x1), back->backbone().forwardFeatures(x1)));
    }

    void synchronisedBatchNormIsTheWholeBatchs_data()
    {
        QTest::addColumn<QList<qint64>>("shape");
        QTest::addColumn<bool>("affine");
        QTest::newRow("[N, C] heads") << QList<qint64>{16, 12} << true;
        QTest::newRow("[N, C] without affine") << QList<qint64>{16, 12} << false;
        QTest::newRow("[N, C, H, W] backbone") << QList<qint64>{8, 6, 5, 4} << true;
    }

    void synchronisedBatchNormIsTheWholeBatchs()
    {
        // BatchNorm over the whole batch (at::batch_norm), against the batch split between two
        // ranks that synchronise: the same outputs, input gradients, running statistics, and
        // affine gradients once the ranks' are summed (as the gradient average does).
        QFETCH(QList<qint64>, shape);
        QFETCH(bool, affine);
        at::manual_seed(7);
        const std::vector<int64_t> sizes(shape.begin(), shape.end());
        const int64_t channels = sizes[1];
        const at::Tensor x = at::randn(sizes) * 3 + 1.5, r = at::randn(sizes); // r: the loss's weights
        const at::Tensor w0 = at::rand({channels}) + 0.5, b0 = at::randn({channels});
        auto leaf = [](const at::Tensor& t) { return t.clone().set_requires_grad(true); };

        const at::Tensor xw = leaf(x), ww = leaf(w0), bw = leaf(b0);
        at::Tensor rmW = at::zeros({channels}), rvW = at::ones({channels});
        const at::Tensor yWhole = at::batch_norm(xw, affine ? ww : at::Tensor(), affine ? bw : at::Tensor(), rmW, rvW, true, 0.1, 1e-5, false);
        (yWhole * r).sum().backward();

        // Alone, the synchronised layer is plain BatchNorm.
        {
            const at::Tensor xa = leaf(x), wa = leaf(w0), ba = leaf(b0);
            at::Tensor rm = at::zeros({channels}), rv = at::ones({channels});
            const AloneSum alone;
            const at::Tensor y = syncBatchNorm(xa, affine ? wa : at::Tensor(), affine ? ba : at::Tensor(), rm, rv, 0.1, 1e-5, alone);
            (y * r).sum().backward();
            QVERIFY(at::allclose(y, yWhole, 1e-5, 1e-5));
            QVERIFY(at::allclose(xa.grad(), xw.grad(), 1e-5, 1e-5));
            QVERIFY(at::allclose(rm, rmW, 1e-6, 1e-6) && at::allclose(rv, rvW, 1e-6, 1e-6));
            if (affine)
                QVERIFY(at::allclose(wa.grad(), ww.grad(), 1e-4, 1e-5) && at::allclose(ba.grad(), bw.grad(), 1e-4, 1e-5));
        }

        const int64_t half = sizes[0] / 2;
        TwoThreadSum group;
        at::Tensor y[2], gx[2], gw[2], gb[2], rm[2], rv[2];
        auto rank = [&](int k) {
            const TwoThreadSum::Rank sum(group, k);
            const at::Tensor xs = leaf(x.narrow(0, k * half, half)), ws = leaf(w0), bs = leaf(b0);
            rm[k] = at::zeros({channels});
            rv[k] = at::ones({channels});
            y[k] = syncBatchNorm(xs, affine ? ws : at::Tensor(), affine ? bs : at::Tensor(), rm[k], rv[k], 0.1, 1e-5, sum);
            (y[k] * r.narrow(0, k * half, half)).sum().backward();
            gx[k] = xs.grad();
            gw[k] = ws.grad();
            gb[k] = bs.grad();
        };
        std::thread other(rank, 1);
        rank(0);
        other.join();
        QCOMPARE(group.calls, 2); // one collective forward, one backward
        QVERIFY(at::allclose(at::cat({y[0], y[1]}), yWhole, 1e-5, 1e-5));
        QVERIFY(at::allclose(at::cat({gx[0], gx[1]}), xw.grad(), 1e-5, 1e-5));
        for (int k = 0; k < 2; ++k)
            QVERIFY(at::allclose(rm[k], rmW, 1e-6, 1e-6) && at::allclose(rv[k], rvW, 1e-6, 1e-6));
        if (affine) {
            QVERIFY(at::allclose(gw[0] + gw[1], ww.grad(), 1e-4, 1e-5));
            QVERIFY(at::allclose(gb[0] + gb[1], bw.grad(), 1e-4, 1e-5));
        } else {
            QVERIFY(!gw[0].defined() && !gw[1].defined());
        }
        // Each half's own statistics (no synchronisation) would differ: the test can tell.
        at::Tensor rmOwn = at::zeros({channels}), rvOwn = at::ones({channels});
        const at::Tensor own = at::batch_norm(x.narrow(0, 0, half), at::Tensor(), at::Tensor(), rmOwn, rvOwn, true, 0.1, 1e-5, false);
        QVERIFY(!at::allclose(rmOwn, rmW, 1e-3, 1e-3));
    }

    void gnToBnKeepsConvKernelsBitForBit()
    {
        auto gn = makeBackbone(tinyConfig(BackboneNorm::GnWs));
        auto bn = makeBackbone(tinyConfig(BackboneNorm::BnWs));
        loadBackboneWeights(*gn, fixture("tiny_bit.npz").toStdString());
        const auto report = loadBackboneWeights(*bn, fixture("tiny_bit.npz").toStdString());
        QVERIFY(!report.notes.empty());
        QVERIFY(QString::fromStdString(report.notes.front()).contains("GroupNorm scale/shift tensors dropped"));
        auto gp = gn->named_parameters(true);
        int convs = 0;
        for (const auto& p : bn->named_parameters(true)) {
            if (p.key().find("conv") != std::string::npos) {
                QVERIFY2(at::equal(p.value(), gp[p.key()]), p.key().c_str());
                ++convs;
            } else if (p.key().find("norm") != std::string::npos) {
                // BatchNorm starts fresh: scale 1, shift 0, as the paper's authors did.
                const double expected = p.key().size() > 7 && p.key().compare(p.key().size() - 7, 7, ".weight") == 0 ? 1.0 : 0.0;
                QVERIFY2(at::equal(p.value(), at::full_like(p.value(), expected)), p.key().c_str());
            }
        }
        QCOMPARE(convs, 17); // stem + 4 units x 3 convs + 4 projections
        QVERIFY(at::equal(bn->named_parameters()["head.fc.weight"], gp["head.fc.weight"]));
    }

    void grayStemMatchesReplicatedInput_data()
    {
        QTest::addColumn<QString>("backbone");
        QTest::addColumn<QString>("norm");
        // bit-tiny has one channel per stem GroupNorm group, bit-nano two (as BiT-R50x1 has), which
        // makes the result depend on each stem channel's scale.
        QTest::newRow("bit-tiny gn_ws (BiT .npz)") << "bit-tiny" << "gn_ws";
        QTest::newRow("bit-nano gn_ws") << "bit-nano" << "gn_ws";
        QTest::newRow("bit-nano bn_ws") << "bit-nano" << "bn_ws";
        QTest::newRow("bit-tiny bn (plain convs)") << "bit-tiny" << "bn";
        QTest::newRow("resnet v1") << "resnet-nano" << "bn";
    }
    void grayStemMatchesReplicatedInput()
    {
        QFETCH(QString, backbone);
        QFETCH(QString, norm);
        ModelConfig c3;
        c3.backbone = backbonePreset(backbone.toStdString());
        c3.backbone.norm = parseBackboneNorm(norm.toStdString());
        c3.backbone.numClasses = 5;
        at::manual_seed(3);
        Network rgb(c3);
        QTemporaryDir dir;
        const std::string path = (dir.path() + "/rgb.safetensors").toStdString();
        if (backbone == "bit-tiny")
            loadBackboneWeights(rgb->backbone(), fixture("tiny_bit.npz").toStdString());
        saveCheckpoint(path, *rgb, {});
        auto c1 = c3;
        c1.backbone.inChannels = 1;
        Network gray(c1);
        const auto report = loadBackboneWeights(gray->backbone(), path);
        QVERIFY(QString::fromStdString(report.notes.back()).contains("summing over the input-channel axis"));
        torch::NoGradGuard guard;
        const auto g = at::randn({4, 1, 64, 64});
        // Both modes: training (BatchNorm uses the batch's statistics) and evaluation (running statistics).
        for (bool training : {true, false}) {
            rgb->train(training);
            gray->train(training);
            const auto expected = rgb->backbone().forwardFeatures(g.expand({4, 3, 64, 64}).contiguous());
            const auto actual = gray->backbone().forwardFeatures(g);
            const double scale = expected.abs().max().item<double>();
            const double d = (expected - actual).abs().max().item<double>();
            qInfo("%s %s, %s mode: max |gray stem - replicated input| = %.3g, features up to %.3g", qPrintable(backbone),
                  qPrintable(norm), training ? "training" : "eval", d, scale);
            QVERIFY(scale > 1e-3); // a real comparison, not zeros against zeros
            QVERIFY2(d <= 1e-5 * std::max(1.0, scale), qPrintable(QString::number(d)));
        }
    }

    void badWeightFilesGiveClearMessages()
    {
        QTemporaryDir dir;
        auto tiny = [] { return makeBackbone(tinyConfig()); };
        // Wrong file type.
        const QString text = dir.path() + "/notes.txt";
        writeFile(text, "these are not weights\n");
        QVERIFY(errorOf([&] { loadBackboneWeights(*tiny(), text.toStdString()); }).find("is not a weights file medsiam reads") != std::string::npos);
        const QString empty = dir.path() + "/empty.bin";
        writeFile(empty, "");
        QVERIFY(errorOf([&] { loadBackboneWeights(*tiny(), empty.toStdString()); }).find("is not a weights file") != std::string::npos);
        // Truncated .npz.
        const std::string npz = readWholeFile(fixture("tiny_bit.npz").toStdString());
        const QString cut = dir.path() + "/cut.npz";
        writeFile(cut, npz.substr(0, npz.size() / 2));
        const std::string cutError = errorOf([&] { loadBackboneWeights(*tiny(), cut.toStdString()); });
        QVERIFY2(cutError.find("cut.npz") != std::string::npos, cutError.c_str());
        // Truncated safetensors.
        const std::string st = readWholeFile(fixture("tiny_bit_timm.safetensors").toStdString());
        const QString cutSt = dir.path() + "/cut.safetensors";
        writeFile(cutSt, st.substr(0, st.size() - 1000));
        const std::string stError = errorOf([&] { loadBackboneWeights(*tiny(), cutSt.toStdString()); });
        QVERIFY2(stError.find("truncated") != std::string::npos, stError.c_str());
        // Missing key and wrong shape: rewrite the safetensors file without one tensor / with a bad one.
        TensorFile file = readTensorFile(fixture("tiny_bit_timm.safetensors").toStdString());
        auto without = file.tensors;
        without.erase(std::remove_if(without.begin(), without.end(), [](const RawTensor& t) { return t.name == "stages.1.blocks.0.conv2.weight"; }),
                      without.end());
        const QString missing = dir.path() + "/missing.safetensors";
        writeSafetensors(missing.toStdString(), without, {});
        const std::string missingError = errorOf([&] { loadBackboneWeights(*tiny(), missing.toStdString()); });
        QVERIFY2(missingError.find("missing 'stages.1.blocks.0.conv2.weight' (expected shape [32,32,3,3])") != std::string::npos,
                 missingError.c_str());
        // Wrong shape, reported in the file's own (BiT, HWIO) layout: the tiny net's weights into a wider one.
        BackboneConfig wide = tinyConfig();
        wide.channels = {256, 256, 256, 256};
        const std::string shapeError = errorOf([&] { loadBackboneWeights(*makeBackbone(wide), fixture("tiny_bit.npz").toStdString()); });
        QVERIFY2(shapeError.find("resnet/block1/unit01/b/standardized_conv2d/kernel: expected [3,3,64,64], found [3,3,32,32]") !=
                     std::string::npos,
                 shapeError.c_str());
        // A model whose weights were rejected is untouched.
        auto target = tiny();
        const auto before = target->named_parameters()["stem.conv.weight"].clone();
        errorOf([&] { loadBackboneWeights(*target, missing.toStdString()); });
        QVERIFY(at::equal(before, target->named_parameters()["stem.conv.weight"]));
    }

    void picklesRunNoCode()
    {
        // A torch-style zip whose pickle calls os.system: refused by name, nothing runs.
        QTemporaryDir dir;
        const QString path = dir.path() + "/evil.pt", marker = dir.path() + "/ran";
        const QString script = QString("import pickle, zipfile, os\n"
                                       "class E:\n"
                                       "    def __reduce__(self): return (os.system, ('touch %1',))\n"
                                       "z = zipfile.ZipFile('%2', 'w')\n"
                                       "z.writestr('evil/data.pkl', pickle.dumps({'w': E()}, protocol=2))\n"
                                       "z.close()\n").arg(marker, path);
        QProcess py;
        py.start(medsiam::test::systemPython(), {"-c", script});
        QVERIFY(py.waitForFinished(30000));
        QCOMPARE(py.exitCode(), 0);
        const std::string error = errorOf([&] { readTensorFile(path.toStdString()); });
        QVERIFY2(error.find("'posix.system'") != std::string::npos && error.find("reads only tensors") != std::string::npos, error.c_str());
        QVERIFY(!QFile::exists(marker));
    }

    void headIsSkippedOnlyWhenAsked()
    {
        auto seven = makeBackbone(tinyConfig(BackboneNorm::GnWs, 3, 7));
        const std::string error = errorOf([&] { loadBackboneWeights(*seven, fixture("tiny_bit.npz").toStdString()); });
        QVERIFY2(error.find("resnet/head/conv2d/kernel: expected [1,1,256,7], found [1,1,256,5]") != std::string::npos, error.c_str());
        QVERIFY(error.find("--skip-head") != std::string::npos);
        WeightImportOptions skip;
        skip.skipHead = true;
        const auto report = loadBackboneWeights(*seven, fixture("tiny_bit.npz").toStdString(), skip);
        QVERIFY(report.matches());
        QVERIFY(at::equal(seven->named_parameters()["head.fc.weight"], at::zeros({7, 256, 1, 1})));
        // A network without a classifier takes the backbone and says the head was not used.
        auto none = makeBackbone(tinyConfig(BackboneNorm::GnWs, 3, 0));
        const auto r2 = loadBackboneWeights(*none, fixture("tiny_bit.npz").toStdString());
        QVERIFY(QString::fromStdString(r2.notes.front()).contains("classification head is not used"));
    }

    void checkpointWriteIsAtomic()
    {
        QTemporaryDir dir;
        ModelConfig config;
        config.backbone = backbonePreset("bit-nano");
        Network net(config);
        const std::string path = (dir.path() + "/ckpt.safetensors").toStdString();
        TrainingState state;
        state.step = 1;
        saveCheckpoint(path, *net, state);
        const std::string before = readWholeFile(path);
        // Make the next write fail half-way: its temporary file's name is taken by a folder.
        QVERIFY(QDir().mkpath(QString::fromStdString(path) + ".tmp-" + QString::number(QCoreApplication::applicationPid())));
        state.step = 2;
        const std::string error = errorOf([&] { saveCheckpoint(path, *net, state); });
        QVERIFY2(error.find("cannot write") != std::string::npos, error.c_str());
        QCOMPARE(readWholeFile(path), before);
        TrainingState loaded;
        loadNetwork(path, &loaded);
        QCOMPARE(loaded.step, int64_t(1));
    }

    void checkpointsRefuseOtherFilesAndDamage()
    {
        QTemporaryDir dir;
        const std::string notOurs = errorOf([&] { loadNetwork(fixture("tiny_bit_timm.safetensors").toStdString()); });
        QVERIFY2(notOurs.find("not a medsiam checkpoint") != std::string::npos, notOurs.c_str());
        ModelConfig config;
        config.backbone = backbonePreset("bit-nano");
        Network net(config);
        const std::string path = (dir.path() + "/a.safetensors").toStdString();
        saveCheckpoint(path, *net, {});
        // The same weights declared as another network.
        TensorFile file = readTensorFile(path);
        auto meta = file.metadata;
        ModelConfig other = config;
        other.backbone.channels = {64, 64, 128, 256};
        meta["config"] = other.toJson();
        const std::string otherPath = (dir.path() + "/b.safetensors").toStdString();
        writeSafetensors(otherPath, file.tensors, meta);
        const std::string error = errorOf([&] { loadNetwork(otherPath); });
        QVERIFY2(error.find("does not match its model configuration") != std::string::npos &&
                     error.find("model.backbone.stages.3.blocks.0.conv1.weight: expected [64,128,1,1], found [32,128,1,1]") != std::string::npos,
                 error.c_str());
    }

    void configJsonRoundTripAndErrors()
    {
        ModelConfig c;
        c.backbone = backbonePreset("bit-r101x3");
        c.backbone.norm = BackboneNorm::BnWs;
        c.backbone.inChannels = 1;
        c.backbone.numClasses = 14;
        c.simsiamHeads = true;
        c.heads.norm = HeadNorm::Ln;
        c.heads.projectorLayers = 2;
        const ModelConfig back = ModelConfig::fromJson(c.toJson());
        QCOMPARE(back.toJson(), c.toJson());
        QVERIFY(errorOf([] { ModelConfig::fromJson("{"); }).find("not valid JSON") != std::string::npos);
        QVERIFY(errorOf([] { ModelConfig::fromJson(R"({"backbone": {"layers": "x"}})"); }).find("backbone.layers has the wrong type") !=
                std::string::npos);
        QVERIFY(errorOf([] { ModelConfig::fromJson(R"({"backbone": {"layers": [1], "channels": [64], "norm": "gn"}})"); })
                    .find("unknown backbone normalization 'gn'") != std::string::npos);
        QVERIFY(errorOf([] { backbonePreset("bit-r51x1"); }).find("known backbones: bit-r26x1") != std::string::npos);
        BackboneConfig odd = backbonePreset("bit-tiny");
        odd.stemChannels = 24;
        QVERIFY(errorOf([&] { odd.validate(); }).find("24 channels cannot be split into 32 GroupNorm groups") != std::string::npos);
    }
};

QTEST_GUILESS_MAIN(TestModels)
#include "TestModels.moc"
