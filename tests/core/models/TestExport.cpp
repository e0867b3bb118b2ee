// Exports for other tools: timm safetensors and the official BiT .npz. The tiny BiT that timm
// wrote (tests/data/bit_tiny) comes back out of medsiam byte for byte in both namings; every
// kind of network survives export and import bit for bit; a 1-channel network's 3-channel
// export computes what the network computes on a gray image given in three channels; and the
// real BiT-M-R50x1 layout is what a bit-r50x1 exports to.
#include "io/TensorFile.h"
#include "models/Checkpoint.h"
#include "models/Network.h"
#include "models/TorchTensors.h"
#include "models/WeightExport.h"
#include "models/WeightImport.h"
#include "system/Runtime.h"
#include "util/AtomicFile.h"
#include "util/Error.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <torch/autograd.h>

#include <QTemporaryDir>
#include <QtTest>

#include <map>

using namespace medsiam::core;

namespace {

QString fixture(const QString& name) { return QStringLiteral(MEDSIAM_TEST_DATA "/bit_tiny/") + name; }

std::string errorOf(const std::function<void()>& f)
{
    try {
        f();
    } catch (const UserError& e) {
        return e.what();
    }
    return "(no error)";
}

BackboneConfig config(const std::string& preset, BackboneNorm norm, int inChannels, int classes)
{
    BackboneConfig b = backbonePreset(preset);
    b.norm = norm;
    b.inChannels = inChannels;
    b.numClasses = classes;
    return b;
}

/// Every parameter and buffer by name.
std::map<std::string, at::Tensor> stateOf(BackboneImpl& b)
{
    std::map<std::string, at::Tensor> out;
    for (const auto& p : b.named_parameters(true))
        out[p.key()] = p.value();
    for (const auto& t : b.named_buffers(true))
        out[t.key()] = t.value();
    return out;
}

/// A network with every tensor changed from its start (BatchNorm statistics and gains too).
std::shared_ptr<BackboneImpl> scrambled(const BackboneConfig& cfg, uint64_t seed)
{
    at::manual_seed(seed);
    auto b = makeBackbone(cfg);
    torch::NoGradGuard guard;
    for (auto& [name, t] : stateOf(*b)) {
        if (!t.is_floating_point())
            t.fill_(7);
        else if (name.find("running_var") != std::string::npos || name.find("ws_gain") != std::string::npos)
            t.uniform_(0.5, 2.5);
        else
            t.normal_(0, 0.2);
    }
    return b;
}

} // namespace

class TestExport : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() { configureThreads(2); }

    /// medsiam reads timm's tiny BiT and writes back the very bytes timm wrote, in both namings.
    void timmAndBitFilesComeBackByteForByte_data()
    {
        QTest::addColumn<QString>("file");
        QTest::addColumn<int>("format");
        QTest::newRow("timm safetensors") << "tiny_bit_timm.safetensors" << int(ExportFormat::Timm);
        QTest::newRow("BiT .npz") << "tiny_bit.npz" << int(ExportFormat::BitNpz);
    }
    void timmAndBitFilesComeBackByteForByte()
    {
        QFETCH(QString, file);
        QFETCH(int, format);
        auto b = makeBackbone(config("bit-tiny", BackboneNorm::GnWs, 3, 5));
        loadBackboneWeights(*b, fixture(file).toStdString());
        QTemporaryDir dir;
        const std::string out = (dir.path() + "/export").toStdString() + exportExtension(ExportFormat(format));
        writeExportedWeights(out, exportBackboneWeights(*b, ExportFormat(format)), ExportFormat(format));
        const TensorFile original = readTensorFile(fixture(file).toStdString()), exported = readTensorFile(out);
        std::map<std::string, const RawTensor*> byName;
        for (const auto& t : exported.tensors)
            byName[t.name] = &t;
        QCOMPARE(exported.tensors.size(), original.tensors.size());
        for (const auto& t : original.tensors) {
            QVERIFY2(byName.count(t.name), t.name.c_str());
            const RawTensor& e = *byName[t.name];
            QVERIFY2(e.shape == t.shape, t.name.c_str());
            QVERIFY2(e.toFloat() == t.toFloat(), t.name.c_str());
        }
    }

    /// Export, import into a fresh network: every tensor is the same, bit for bit.
    void exportThenImportIsBitForBit_data()
    {
        QTest::addColumn<QString>("preset");
        QTest::addColumn<QString>("norm");
        QTest::addColumn<int>("channels");
        QTest::addColumn<int>("format");
        QTest::newRow("BiT gn_ws gray, timm") << "bit-nano" << "gn_ws" << 1 << int(ExportFormat::Timm);
        QTest::newRow("BiT gn_ws gray, npz") << "bit-nano" << "gn_ws" << 1 << int(ExportFormat::BitNpz);
        QTest::newRow("BiT gn_ws RGB, npz") << "bit-nano" << "gn_ws" << 3 << int(ExportFormat::BitNpz);
        QTest::newRow("ResNet-v2 bn_ws gray, timm") << "bit-nano" << "bn_ws" << 1 << int(ExportFormat::Timm);
        QTest::newRow("ResNet-v2 bn RGB, timm") << "bit-nano" << "bn" << 3 << int(ExportFormat::Timm);
        QTest::newRow("classic ResNet gray, timm") << "resnet-nano" << "bn" << 1 << int(ExportFormat::Timm);
    }
    void exportThenImportIsBitForBit()
    {
        QFETCH(QString, preset);
        QFETCH(QString, norm);
        QFETCH(int, channels);
        QFETCH(int, format);
        const auto cfg = config(preset.toStdString(), parseBackboneNorm(norm.toStdString()), channels, 3);
        auto original = scrambled(cfg, 5);
        QTemporaryDir dir;
        const std::string out = (dir.path() + "/export").toStdString() + exportExtension(ExportFormat(format));
        writeExportedWeights(out, exportBackboneWeights(*original, ExportFormat(format)), ExportFormat(format));
        auto back = scrambled(cfg, 6);
        loadBackboneWeights(*back, out);
        const auto a = stateOf(*original), b = stateOf(*back);
        QCOMPARE(a.size(), b.size());
        for (const auto& [name, t] : a)
            QVERIFY2(at::equal(t, b.at(name)), name.c_str());
    }

    /// The 3-channel stem a gray network exports to computes, on a gray image given in all three
    /// channels, what the gray network computes: the exported file loaded into a 3-channel
    /// network (timm's layout and arithmetic) gives the same logits.
    void grayExportMatchesOnReplicatedInput_data()
    {
        QTest::addColumn<QString>("norm");
        QTest::newRow("gn_ws (a BiT stem adapted from RGB, with its gain)") << "gn_ws";
        QTest::newRow("bn (no standardization)") << "bn";
    }
    void grayExportMatchesOnReplicatedInput()
    {
        QFETCH(QString, norm);
        const auto n = parseBackboneNorm(norm.toStdString());
        // A gray network made from RGB weights, as a user's BiT fine-tune is.
        auto rgb = scrambled(config("bit-tiny", n, 3, 5), 8);
        QTemporaryDir dir;
        const std::string rgbFile = (dir.path() + "/rgb.safetensors").toStdString();
        writeExportedWeights(rgbFile, exportBackboneWeights(*rgb, ExportFormat::Timm), ExportFormat::Timm);
        auto gray = makeBackbone(config("bit-tiny", n, 1, 5));
        loadBackboneWeights(*gray, rgbFile);
        const std::string grayFile = (dir.path() + "/gray.safetensors").toStdString();
        const auto exported = exportBackboneWeights(*gray, ExportFormat::Timm);
        QVERIFY(!exported.notes.empty() && exported.notes.front().find("all three channels") != std::string::npos);
        writeExportedWeights(grayFile, exported, ExportFormat::Timm);
        for (const auto& t : readTensorFile(grayFile).tensors)
            if (t.name == "stem.conv.weight")
                QCOMPARE(t.shapeText(), std::string("[32,3,7,7]"));
        auto asRgb = makeBackbone(config("bit-tiny", n, 3, 5));
        loadBackboneWeights(*asRgb, grayFile);
        gray->eval();
        asRgb->eval();
        torch::NoGradGuard guard;
        const auto x = at::randn({2, 1, 64, 64});
        const auto want = gray->forwardHead(gray->forwardFeatures(x));
        const auto got = asRgb->forwardHead(asRgb->forwardFeatures(x.expand({-1, 3, -1, -1}).contiguous()));
        const double diff = (want - got).abs().max().item<double>(), scale = want.abs().max().item<double>();
        qInfo("gray network vs its 3-channel export on replicated input: max |diff| %.2e (logits up to %.2f)", diff, scale);
        QVERIFY(diff <= 1e-4 * std::max(1.0, scale));
    }

    /// A bit-r50x1 exports to the key and shape layout of the real BiT-M-R50x1 .npz (the head
    /// has the project's classes instead of 21843).
    void bitR50x1ExportsTheOfficialLayout()
    {
        auto b = makeBackbone(config("bit-r50x1", BackboneNorm::GnWs, 3, 2));
        const auto exported = exportBackboneWeights(*b, ExportFormat::BitNpz);
        const auto layout = nlohmann::json::parse(readWholeFile(fixture("bit_m_r50x1_npz_layout.json").toStdString()));
        std::map<std::string, std::vector<int64_t>> got;
        for (const auto& t : exported.tensors)
            got[t.name] = t.shape;
        QCOMPARE(got.size(), layout.size());
        for (const auto& [key, shape] : layout.items()) {
            QVERIFY2(got.count(key), key.c_str());
            auto want = shape.get<std::vector<int64_t>>();
            if (key.rfind("resnet/head/", 0) == 0)
                want.back() = 2;
            QVERIFY2(got[key] == want, key.c_str());
        }
    }

    void formatsRefuseWhatTheyCannotHold()
    {
        auto bn = makeBackbone(config("bit-nano", BackboneNorm::Bn, 3, 2));
        const auto e = errorOf([&] { exportBackboneWeights(*bn, ExportFormat::BitNpz); });
        QVERIFY2(e.find("export it as timm") != std::string::npos, e.c_str());
        QVERIFY(!parseExportFormat("onnx"));
        QCOMPARE(int(*parseExportFormat("bit-npz")), int(ExportFormat::BitNpz));
        // Metadata that is not a tensor is not taken for one.
        QVERIFY(!decodeTensorText("x", "F32;[2];AAAA"));
        RawTensor t;
        t.shape = {3};
        t.data.assign(12, 0x3f);
        const auto back = decodeTensorText("x", encodeTensorText(t));
        QVERIFY(back && back->data == t.data && back->shape == t.shape);
    }
};

QTEST_GUILESS_MAIN(TestExport)
#include "TestExport.moc"
