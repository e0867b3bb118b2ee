// Grad-CAM points at what decides the class: on a task where a bright square's position (left or
// right half) is the label, the heatmap's peak lies at the square and its heat is concentrated
// there. (The peak is usually on the square's edge, which the network keys on, rather than
// strictly inside; the test reports both.)
#include "analysis/GradCam.h"
#include "image/Png.h"
#include "system/Runtime.h"
#include "train/TrainUtil.h"
#include "util/AtomicFile.h"
#include "util/Error.h"

#include <ATen/ATen.h>
#include <torch/utils.h>

#include <QTemporaryDir>
#include <QtTest>

#include <random>

using namespace medsiam::core;

namespace {

constexpr int kSize = 128, kSquare = 28;

/// A noisy image with a bright square; label 0 when the square is in the left half.
void makeImage(at::Tensor& x, int& label, int& sx, int& sy, std::mt19937& rng)
{
    std::uniform_int_distribution<int> pos(4, kSize - kSquare - 4);
    sx = pos(rng);
    sy = pos(rng);
    label = sx + kSquare / 2 < kSize / 2 ? 0 : 1;
    x = at::randn({1, kSize, kSize}) * 0.2 - 0.6;
    x.slice(1, sy, sy + kSquare).slice(2, sx, sx + kSquare).fill_(0.9);
}

} // namespace

class TestGradCam : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() { configureThreads(2); }

    void heatmapPointsAtTheSquare()
    {
        at::manual_seed(0);
        std::mt19937 rng(1);
        ModelConfig config;
        config.backbone = backbonePreset("bit-nano");
        config.backbone.inChannels = 1;
        config.backbone.numClasses = 2;
        Network net(config);
        net->train();
        Sgd sgd(*net, 0.9, 0);
        for (int step = 0; step < 200; ++step) {
            std::vector<at::Tensor> xs;
            std::vector<int64_t> ys;
            for (int b = 0; b < 32; ++b) {
                at::Tensor x;
                int label, sx, sy;
                makeImage(x, label, sx, sy, rng);
                xs.push_back(x);
                ys.push_back(label);
            }
            const auto logits = net->classify(at::stack(xs));
            const auto loss = at::cross_entropy_loss(logits, at::tensor(ys, at::kLong));
            sgd.zeroGrad();
            loss.backward();
            sgd.step([](const std::string&) { return 0.1; });
        }
        int correct = 0, inside = 0, near = 0, hotter = 0;
        const int trials = 12;
        QTemporaryDir tmp;
        for (int t = 0; t < trials; ++t) {
            at::Tensor x;
            int label, sx, sy;
            makeImage(x, label, sx, sy, rng);
            const auto r = gradCam(*net, x.unsqueeze(0), -1, 2);
            QCOMPARE(r.heatmap.size(0), int64_t(kSize));
            correct += r.classIndex == label;
            const int64_t peak = r.heatmap.argmax().item<int64_t>();
            const int py = static_cast<int>(peak / kSize), px = static_cast<int>(peak % kSize);
            inside += px >= sx && px < sx + kSquare && py >= sy && py < sy + kSquare;
            // The network keys on the square's edges, and Grad-CAM's map is 8 px coarse: allow a
            // margin of a quarter of the square around it.
            const int m = kSquare / 4;
            near += px >= sx - m && px < sx + kSquare + m && py >= sy - m && py < sy + kSquare + m;
            const auto box = r.heatmap.slice(0, std::max(0, sy - m), sy + kSquare + m).slice(1, std::max(0, sx - m), sx + kSquare + m);
            const double inMean = box.mean().item<double>();
            const double outMean = (r.heatmap.sum().item<double>() - box.sum().item<double>()) / double(r.heatmap.numel() - box.numel());
            hotter += inMean > 2 * outMean;
            if (t == 0) { // the overlay writer, exercised on a real heatmap
                Image8 base(kSize, kSize, 1);
                const auto gray = ((x[0] + 1) * 127.5).clamp(0, 255).to(at::kByte).contiguous();
                std::copy(gray.data_ptr<uint8_t>(), gray.data_ptr<uint8_t>() + kSize * kSize, base.pixels.begin());
                std::vector<float> heat(r.heatmap.data_ptr<float>(), r.heatmap.data_ptr<float>() + kSize * kSize);
                const QString png = tmp.path() + "/overlay.png";
                writePng(png.toStdString(), heatmapOverlay(base, heat));
                const std::string bytes = readWholeFile(png.toStdString());
                QVERIFY(bytes.size() > 100 && bytes.compare(1, 3, "PNG") == 0);
            }
        }
        qInfo("square left/right task: %d of %d classified right; Grad-CAM peak inside the square in %d, within %d px of it in "
              "%d, mean heat around it over twice the rest in %d of %d",
              correct, trials, inside, kSquare / 4, near, hotter, trials);
        QVERIFY(correct >= trials - 1);
        QVERIFY(near >= trials - 2);
        QVERIFY(hotter >= trials - 2);
    }

    void refusesNetworksWithoutAClassifier()
    {
        ModelConfig config;
        config.backbone = backbonePreset("bit-nano");
        Network net(config);
        try {
            gradCam(*net, at::randn({1, 3, 64, 64}));
            QFAIL("no error");
        } catch (const UserError& e) {
            QVERIFY(QString(e.what()).contains("needs a classifier"));
        }
    }
};

QTEST_GUILESS_MAIN(TestGradCam)
#include "TestGradCam.moc"
