// The batched tensor augmentation (train/DeviceAugment) against the CPU path (data/Augment): the
// same views of the same samples to float rounding, an exact identity when everything is off,
// and the shared choices drawn with the configured distributions.
#include "data/Augment.h"
#include "data/ImageCache.h"
#include "image/Image8.h"
#include "train/DeviceAugment.h"
#include "train/Features.h"

#include <ATen/ATen.h>

#include <QTemporaryDir>
#include <QTest>

#include <cmath>
#include <cstring>

using namespace medsiam;
using namespace medsiam::core;

namespace {

/// Pixels with structure (gradients, a disc, noise) so that crops, flips and blurs show.
std::vector<uint8_t> picture(int side, int channels, int seed)
{
    std::vector<uint8_t> v(static_cast<size_t>(side) * side * channels);
    uint64_t s = 0x9E3779B97F4A7C15ull * (seed + 1);
    for (int y = 0; y < side; ++y)
        for (int x = 0; x < side; ++x)
            for (int c = 0; c < channels; ++c) {
                s = s * 6364136223846793005ull + 1442695040888963407ull;
                const double d = std::hypot(x - side * 0.4, y - side * 0.6);
                const double base = (d < side * 0.25 ? 200 : 40) + 50.0 * x / side + 30.0 * c + double(s >> 60);
                v[(static_cast<size_t>(y) * side + x) * channels + c] = static_cast<uint8_t>(std::min(255.0, base));
            }
    return v;
}

/// applyAugment of each sample, stacked like augmentBatch's output.
at::Tensor cpuViews(const std::vector<std::vector<uint8_t>>& images, const std::vector<int>& channels, int side,
                    const std::vector<AugmentParams>& params, int outSize, int outChannels, InputNormalization norm)
{
    const int64_t b = static_cast<int64_t>(images.size());
    at::Tensor out = at::empty({b, outChannels, outSize, outSize}, at::kFloat);
    for (int64_t i = 0; i < b; ++i)
        applyAugment(images[static_cast<size_t>(i)].data(), side, channels[static_cast<size_t>(i)],
                     out.data_ptr<float>() + i * outChannels * outSize * outSize, outSize, outChannels, params[static_cast<size_t>(i)], norm);
    return out;
}

/// The images as augmentBatch takes them: 3 channels when any is colour (grey ones replicated).
at::Tensor stackPixels(const std::vector<std::vector<uint8_t>>& images, const std::vector<int>& channels, int side, std::vector<bool>* colour)
{
    const bool anyColour = std::find(channels.begin(), channels.end(), 3) != channels.end();
    const int c = anyColour ? 3 : 1;
    at::Tensor t = at::empty({static_cast<int64_t>(images.size()), side, side, c}, at::kByte);
    colour->clear();
    for (size_t i = 0; i < images.size(); ++i) {
        uint8_t* d = t.data_ptr<uint8_t>() + i * side * side * c;
        colour->push_back(channels[i] == 3);
        for (int p = 0; p < side * side; ++p)
            for (int k = 0; k < c; ++k)
                d[p * c + k] = images[i][static_cast<size_t>(p) * channels[i] + (channels[i] == 3 ? k : 0)];
    }
    return t;
}

} // namespace

class TestDeviceAugment : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() { at::set_num_threads(2); }

    void everythingOffIsAnExactIdentity_data()
    {
        QTest::addColumn<bool>("mixed");
        QTest::addColumn<int>("outChannels");
        QTest::addColumn<bool>("bit");
        QTest::newRow("grey to 1, [-1,1]") << false << 1 << true;
        QTest::newRow("grey to 3, ImageNet") << false << 3 << false;
        QTest::newRow("grey and colour to 3, [-1,1]") << true << 3 << true;
        QTest::newRow("grey and colour to 1, ImageNet") << true << 1 << false;
    }

    void everythingOffIsAnExactIdentity()
    {
        QFETCH(bool, mixed);
        QFETCH(int, outChannels);
        QFETCH(bool, bit);
        const int side = 24;
        const InputNormalization norm = bit ? InputNormalization::MinusOneToOne : InputNormalization::ImageNet;
        std::vector<std::vector<uint8_t>> images;
        std::vector<int> channels;
        for (int i = 0; i < 6; ++i) {
            channels.push_back(mixed && i % 2 ? 3 : 1);
            images.push_back(picture(side, channels.back(), i));
        }
        std::vector<AugmentParams> params;
        for (size_t i = 0; i < images.size(); ++i)
            params.push_back(drawAugmentParams(AugmentConfig::none(), side, channels[i], side, 99 + i));
        std::vector<bool> colour;
        const at::Tensor got = augmentBatch(stackPixels(images, channels, side, &colour), params, colour, side, outChannels, norm);
        const at::Tensor want = cpuViews(images, channels, side, params, side, outChannels, norm);
        QVERIFY(at::equal(got, want));
        // And the identity it is: a grey pixel p becomes p / 127.5 - 1 (BiT's scaling).
        if (!mixed && bit) {
            const float v = got[0][0][5][7].item<float>();
            QCOMPARE(v, images[0][5 * side + 7] / 255.f * 2.f - 1.f);
        }
    }

    void theSameViewsAsTheCpuPath_data()
    {
        QTest::addColumn<bool>("mixed");
        QTest::addColumn<int>("outChannels");
        QTest::newRow("grey, 1 channel") << false << 1;
        QTest::newRow("grey and colour, 3 channels") << true << 3;
        QTest::newRow("grey and colour, 1 channel") << true << 1;
    }

    void theSameViewsAsTheCpuPath()
    {
        QFETCH(bool, mixed);
        QFETCH(int, outChannels);
        const int side = 48, outSize = 40;
        AugmentConfig cfg; // SimSiam's: crop, flip, jitter, grayscale, blur
        cfg.blurSigmaMax = 30.0; // wide kernels too (sigma up to ~5 px at 40 px)
        std::vector<std::vector<uint8_t>> images;
        std::vector<int> channels;
        std::vector<AugmentParams> params;
        int jittered = 0, blurred = 0, flipped = 0;
        for (int i = 0; i < 64; ++i) {
            channels.push_back(mixed && i % 3 == 0 ? 3 : 1);
            images.push_back(picture(side, channels.back(), i));
            params.push_back(drawAugmentParams(cfg, side, channels.back(), outSize, augmentSeed(5, 17, i, i % 2)));
            jittered += params.back().jitter;
            blurred += params.back().blur;
            flipped += params.back().flip;
        }
        QVERIFY(jittered > 0 && jittered < 64 && blurred > 0 && blurred < 64 && flipped > 0 && flipped < 64);
        for (InputNormalization norm : {InputNormalization::MinusOneToOne, InputNormalization::ImageNet}) {
            std::vector<bool> colour;
            const at::Tensor got = augmentBatch(stackPixels(images, channels, side, &colour), params, colour, outSize, outChannels, norm);
            const at::Tensor want = cpuViews(images, channels, side, params, outSize, outChannels, norm);
            QCOMPARE(got.sizes().vec(), want.sizes().vec());
            const double diff = (got - want).abs().max().item<double>();
            QVERIFY2(diff < 2e-5, qPrintable(QString("largest difference %1").arg(diff)));
            QVERIFY((want - want.mean()).abs().max().item<double>() > 0.5); // the views are not flat
        }
    }

    void choicesFollowTheConfiguredDistributions()
    {
        const AugmentConfig cfg;
        const int side = 64, n = 20000;
        double scaleSum = 0, logRatioSum = 0, flips = 0, jitters = 0, grays = 0, blurs = 0, brightSum = 0;
        double scaleMin = 1, scaleMax = 0, ratioMin = 10, ratioMax = 0, brightMin = 9, brightMax = 0, sigmaMin = 9, sigmaMax = 0;
        for (int i = 0; i < n; ++i) {
            const AugmentParams p = drawAugmentParams(cfg, side, 3, 224, augmentSeed(1, i, i * 7, i % 2));
            const double scale = p.cropW * p.cropH / (double(side) * side), ratio = p.cropW / p.cropH;
            scaleSum += scale;
            logRatioSum += std::log(ratio);
            scaleMin = std::min(scaleMin, scale);
            scaleMax = std::max(scaleMax, scale);
            ratioMin = std::min(ratioMin, ratio);
            ratioMax = std::max(ratioMax, ratio);
            QVERIFY(p.cropX >= 0 && p.cropY >= 0 && p.cropX + p.cropW <= side && p.cropY + p.cropH <= side);
            flips += p.flip;
            grays += p.grayscale;
            if (p.jitter) {
                ++jitters;
                brightSum += p.brightness;
                brightMin = std::min<double>(brightMin, p.brightness);
                brightMax = std::max<double>(brightMax, p.brightness);
                QVERIFY(std::abs(p.hueTurn) <= cfg.hue * 2 * M_PI + 1e-12);
                QVERIFY(p.saturation >= 0.6f - 1e-6f && p.saturation <= 1.4f + 1e-6f);
            }
            if (p.blur) {
                ++blurs;
                sigmaMin = std::min(sigmaMin, p.blurSigma);
                sigmaMax = std::max(sigmaMax, p.blurSigma);
            }
        }
        // Area 0.2-1 of the image (rounded to whole pixels), aspect 3/4-4/3 (the same rounding).
        QVERIFY2(scaleMin >= 0.19 && scaleMin < 0.21 && scaleMax > 0.97 && scaleMax <= 1.0, qPrintable(QString("%1 %2").arg(scaleMin).arg(scaleMax)));
        // torchvision's RandomResizedCrop redraws a crop that does not fit; at 64 px that leaves a
        // mean area of 0.545 (400,000 draws of an independent simulation), and log-aspects around 0.
        QVERIFY2(std::abs(scaleSum / n - 0.545) < 0.01, qPrintable(QString::number(scaleSum / n)));
        QVERIFY2(std::abs(logRatioSum / n) < 0.01, qPrintable(QString::number(logRatioSum / n)));
        QVERIFY2(ratioMin > 0.72 && ratioMin < 0.78 && ratioMax > 1.28 && ratioMax < 1.38, qPrintable(QString("%1 %2").arg(ratioMin).arg(ratioMax)));
        QVERIFY(std::abs(flips / n - 0.5) < 0.015);
        QVERIFY(std::abs(jitters / n - 0.8) < 0.015);
        QVERIFY(std::abs(grays / n - 0.2) < 0.015);
        QVERIFY(std::abs(blurs / n - 0.5) < 0.015);
        QVERIFY(brightMin >= 0.6 && brightMin < 0.61 && brightMax <= 1.4 && brightMax > 1.39);
        QVERIFY(std::abs(brightSum / jitters - 1.0) < 0.01);
        QVERIFY(sigmaMin >= 0.1 && sigmaMin < 0.12 && sigmaMax <= 2.0 && sigmaMax > 1.98); // at 224 px
        // Grey images draw no colour choices.
        for (int i = 0; i < 200; ++i) {
            const AugmentParams p = drawAugmentParams(cfg, side, 1, 224, augmentSeed(1, i, i, 0));
            QVERIFY(!p.grayscale && p.saturation == 1.f && p.hueTurn == 0);
        }
    }

    void aBatchFromTheCacheIsMakeBatchsBatch()
    {
        QTemporaryDir dir;
        const int side = 32;
        std::vector<CacheEntry> entries;
        {
            ImageCacheWriter writer(dir.path().toStdString(), side);
            for (int i = 0; i < 10; ++i) {
                const int c = i % 4 == 1 ? 3 : 1;
                FittedImage f;
                f.image = Image8(side, side, c);
                const auto px = picture(side, c, i);
                std::memcpy(f.image.pixels.data(), px.data(), px.size());
                f.content = {0, 0, side, side};
                CacheEntry e = writer.append(f);
                e.imageId = i + 1;
                entries.push_back(e);
            }
            writer.sync();
        }
        ImageCache cache(dir.path().toStdString(), side, entries);
        const std::vector<int64_t> batch = {3, 1, 8, 0, 5, 9};
        const AugmentConfig cfg;
        for (int channels : {1, 3}) {
            const at::Tensor want = makeBatch(cache, batch, 28, channels, cfg, InputNormalization::ImageNet, 11, 4, 1, 6);
            const at::Tensor got = makeBatchOnDevice(cache, batch, 28, channels, cfg, InputNormalization::ImageNet, 11, 4, 1, at::kCPU, 6);
            const double diff = (got - want).abs().max().item<double>();
            QVERIFY2(diff < 2e-5, qPrintable(QString("largest difference %1").arg(diff)));
        }
    }
};

QTEST_GUILESS_MAIN(TestDeviceAugment)
#include "TestDeviceAugment.moc"
