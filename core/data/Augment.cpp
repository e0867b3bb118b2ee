#include "data/Augment.h"

#include "util/Error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace medsiam::core {

namespace {

uint64_t splitmix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

class Rng {
public:
    explicit Rng(uint64_t seed) : m_state(seed) {}
    double uniform(double lo = 0, double hi = 1)
    {
        m_state = splitmix(m_state);
        return lo + (hi - lo) * double(m_state >> 11) * (1.0 / 9007199254740992.0);
    }
    bool chance(double p) { return uniform() < p; }

private:
    uint64_t m_state;
};

constexpr float kMean[3] = {0.485f, 0.456f, 0.406f};
constexpr float kStd[3] = {0.229f, 0.224f, 0.225f};

} // namespace

InputNormalization inputNormalizationFor(const BackboneConfig& backbone)
{
    return backbone.arch == BackboneArch::ResNetV2 ? InputNormalization::MinusOneToOne : InputNormalization::ImageNet;
}

uint64_t augmentSeed(uint64_t runSeed, int64_t step, int64_t sample, int view)
{
    return splitmix(splitmix(splitmix(runSeed) ^ uint64_t(step)) ^ (uint64_t(sample) << 1 | uint64_t(view)));
}

AugmentConfig AugmentConfig::none()
{
    AugmentConfig c;
    c.crop = c.flip = c.colorJitter = c.grayscale = c.blur = false;
    return c;
}

AugmentConfig AugmentConfig::bitFinetune(int resize, int crop)
{
    AugmentConfig c = none();
    c.crop = true;
    c.cropScaleMin = c.cropScaleMax = double(crop) * crop / (double(resize) * resize);
    c.cropRatioMin = c.cropRatioMax = 1.0;
    c.flip = true;
    return c;
}

std::string AugmentConfig::toJson() const
{
    nlohmann::ordered_json j = {{"crop", crop},
                                {"crop_scale", {cropScaleMin, cropScaleMax}},
                                {"crop_ratio", {cropRatioMin, cropRatioMax}},
                                {"flip", flip},
                                {"color_jitter", colorJitter},
                                {"jitter_probability", jitterProbability},
                                {"brightness", brightness},
                                {"contrast", contrast},
                                {"saturation", saturation},
                                {"hue", hue},
                                {"grayscale", grayscale},
                                {"grayscale_probability", grayscaleProbability},
                                {"blur", blur},
                                {"blur_probability", blurProbability},
                                {"blur_sigma", {blurSigmaMin, blurSigmaMax}}};
    return j.dump();
}

AugmentConfig AugmentConfig::fromJson(const std::string& text)
{
    AugmentConfig c;
    try {
        const auto j = nlohmann::json::parse(text);
        auto get = [&](const char* key, auto& out) {
            if (j.contains(key))
                j.at(key).get_to(out);
        };
        std::vector<double> scale{c.cropScaleMin, c.cropScaleMax}, sigma{c.blurSigmaMin, c.blurSigmaMax},
            ratio{c.cropRatioMin, c.cropRatioMax};
        get("crop_ratio", ratio);
        get("crop", c.crop);
        get("crop_scale", scale);
        get("flip", c.flip);
        get("color_jitter", c.colorJitter);
        get("jitter_probability", c.jitterProbability);
        get("brightness", c.brightness);
        get("contrast", c.contrast);
        get("saturation", c.saturation);
        get("hue", c.hue);
        get("grayscale", c.grayscale);
        get("grayscale_probability", c.grayscaleProbability);
        get("blur", c.blur);
        get("blur_probability", c.blurProbability);
        get("blur_sigma", sigma);
        if (scale.size() != 2 || sigma.size() != 2 || ratio.size() != 2)
            throw UserError("crop_scale, crop_ratio and blur_sigma need two numbers");
        c.cropRatioMin = ratio[0];
        c.cropRatioMax = ratio[1];
        c.cropScaleMin = scale[0];
        c.cropScaleMax = scale[1];
        c.blurSigmaMin = sigma[0];
        c.blurSigmaMax = sigma[1];
    } catch (const UserError&) {
        throw;
    } catch (const std::exception& e) {
        throw UserError(std::string("augmentation settings: ") + e.what());
    }
    if (c.cropScaleMin <= 0 || c.cropScaleMin > c.cropScaleMax || c.cropScaleMax > 1)
        throw UserError("augmentation settings: crop_scale must satisfy 0 < min <= max <= 1");
    if (c.cropRatioMin <= 0 || c.cropRatioMin > c.cropRatioMax)
        throw UserError("augmentation settings: crop_ratio must satisfy 0 < min <= max");
    return c;
}

int AugmentParams::blurRadius() const
{
    return blur ? std::max(1, static_cast<int>(std::ceil(3 * blurSigma))) : 0;
}

std::vector<float> AugmentParams::blurKernel() const
{
    const int radius = blurRadius();
    if (radius == 0)
        return {};
    std::vector<float> k(2 * radius + 1);
    float sum = 0;
    for (int i = -radius; i <= radius; ++i)
        sum += k[i + radius] = static_cast<float>(std::exp(-0.5 * i * i / (blurSigma * blurSigma)));
    for (auto& v : k)
        v /= sum;
    return k;
}

BilinearTap bilinearTap(double start, double step, int i, int side)
{
    const double f = std::clamp(start + (i + 0.5) * step - 0.5, 0.0, double(side - 1));
    BilinearTap t;
    t.lo = static_cast<int>(f);
    t.hi = std::min(t.lo + 1, side - 1);
    t.w = static_cast<float>(f - t.lo);
    return t;
}

AugmentParams drawAugmentParams(const AugmentConfig& cfg, int side, int srcChannels, int outSize, uint64_t seed)
{
    Rng rng(seed);
    AugmentParams p;
    // 1. Random resized crop (torchvision's RandomResizedCrop: area fraction and log-uniform aspect).
    p.cropW = p.cropH = side;
    if (cfg.crop) {
        bool found = false;
        for (int attempt = 0; attempt < 10 && !found; ++attempt) {
            const double area = side * double(side) * rng.uniform(cfg.cropScaleMin, cfg.cropScaleMax);
            const double ratio = std::exp(rng.uniform(std::log(cfg.cropRatioMin), std::log(cfg.cropRatioMax)));
            const double w = std::round(std::sqrt(area * ratio)), h = std::round(std::sqrt(area / ratio));
            if (w >= 1 && h >= 1 && w <= side && h <= side) {
                p.cropW = w;
                p.cropH = h;
                p.cropX = std::floor(rng.uniform(0, side - w + 1));
                p.cropY = std::floor(rng.uniform(0, side - h + 1));
                found = true;
            }
        }
    }
    p.flip = cfg.flip && rng.chance(0.5);
    const bool colour = srcChannels == 3;
    // 3. Colour jitter (brightness, contrast; saturation and hue on colour images).
    if (cfg.colorJitter && rng.chance(cfg.jitterProbability)) {
        p.jitter = true;
        p.brightness = static_cast<float>(rng.uniform(std::max(0.0, 1 - cfg.brightness), 1 + cfg.brightness));
        p.contrast = static_cast<float>(rng.uniform(std::max(0.0, 1 - cfg.contrast), 1 + cfg.contrast));
        if (colour) {
            p.saturation = static_cast<float>(rng.uniform(std::max(0.0, 1 - cfg.saturation), 1 + cfg.saturation));
            p.hueTurn = rng.uniform(-cfg.hue, cfg.hue) * 2 * M_PI;
        }
    }
    // 4. Grayscale (colour images).
    p.grayscale = colour && cfg.grayscale && rng.chance(cfg.grayscaleProbability);
    // 5. Gaussian blur, sigma drawn in pixels at 224 px and scaled to this size.
    if (cfg.blur && rng.chance(cfg.blurProbability)) {
        p.blur = true;
        p.blurSigma = rng.uniform(cfg.blurSigmaMin, cfg.blurSigmaMax) * outSize / 224.0;
    }
    return p;
}

void augmentImage(const uint8_t* src, int side, int srcChannels, float* out, int outSize, int outChannels,
                  const AugmentConfig& cfg, InputNormalization norm, uint64_t seed)
{
    applyAugment(src, side, srcChannels, out, outSize, outChannels, drawAugmentParams(cfg, side, srcChannels, outSize, seed), norm);
}

void applyAugment(const uint8_t* src, int side, int srcChannels, float* out, int outSize, int outChannels, const AugmentParams& ap,
                  InputNormalization norm)
{
    const double cx = ap.cropX, cy = ap.cropY, cw = ap.cropW, ch = ap.cropH;
    const bool flip = ap.flip;
    // 2. Bilinear resample of the crop to outSize x outSize (pixel centres aligned), into RGB or gray floats in [0, 1].
    const int n = outSize * outSize;
    const int work = srcChannels == 3 ? 3 : 1;
    std::vector<float> img(static_cast<size_t>(work) * n);
    const double sx = cw / outSize, sy = ch / outSize;
    for (int y = 0; y < outSize; ++y) {
        const BilinearTap ty = bilinearTap(cy, sy, y, side);
        const int y0 = ty.lo, y1 = ty.hi;
        const float wy = ty.w;
        for (int x = 0; x < outSize; ++x) {
            const int xo = flip ? outSize - 1 - x : x;
            const BilinearTap tx = bilinearTap(cx, sx, x, side);
            const int x0 = tx.lo, x1 = tx.hi;
            const float wx = tx.w;
            for (int c = 0; c < work; ++c) {
                auto px = [&](int yy, int xx) { return float(src[(static_cast<size_t>(yy) * side + xx) * srcChannels + c]); };
                const float top = px(y0, x0) + wx * (px(y0, x1) - px(y0, x0));
                const float bottom = px(y1, x0) + wx * (px(y1, x1) - px(y1, x0));
                img[static_cast<size_t>(c) * n + y * outSize + xo] = (top + wy * (bottom - top)) / 255.f;
            }
        }
    }
    auto gray = [&](int i) { return work == 3 ? 0.299f * img[i] + 0.587f * img[n + i] + 0.114f * img[2 * n + i] : img[i]; };
    // 3. Colour jitter (brightness, contrast; saturation and hue on colour images), p = 0.8.
    if (ap.jitter) {
        const float b = ap.brightness;
        for (auto& v : img)
            v = std::clamp(v * b, 0.f, 1.f);
        const float c = ap.contrast;
        double mean = 0;
        for (int i = 0; i < n; ++i)
            mean += gray(i);
        const float m = static_cast<float>(mean / n);
        for (auto& v : img)
            v = std::clamp(m + c * (v - m), 0.f, 1.f);
        if (work == 3) {
            const float s = ap.saturation;
            const double hueTurn = ap.hueTurn;
            const float cosH = static_cast<float>(std::cos(hueTurn)), sinH = static_cast<float>(std::sin(hueTurn));
            for (int i = 0; i < n; ++i) {
                const float g = gray(i);
                float r = g + s * (img[i] - g), gg = g + s * (img[n + i] - g), bb = g + s * (img[2 * n + i] - g);
                // Hue: rotate the chroma plane of YIQ.
                const float Y = 0.299f * r + 0.587f * gg + 0.114f * bb;
                const float I = 0.596f * r - 0.274f * gg - 0.322f * bb;
                const float Q = 0.211f * r - 0.523f * gg + 0.312f * bb;
                const float I2 = I * cosH - Q * sinH, Q2 = I * sinH + Q * cosH;
                img[i] = std::clamp(Y + 0.956f * I2 + 0.621f * Q2, 0.f, 1.f);
                img[n + i] = std::clamp(Y - 0.272f * I2 - 0.647f * Q2, 0.f, 1.f);
                img[2 * n + i] = std::clamp(Y - 1.106f * I2 + 1.703f * Q2, 0.f, 1.f);
            }
        }
    }
    // 4. Grayscale, p = 0.2 (colour images).
    if (work == 3 && ap.grayscale) {
        for (int i = 0; i < n; ++i) {
            const float g = gray(i);
            img[i] = img[n + i] = img[2 * n + i] = g;
        }
    }
    // 5. Gaussian blur, p = 0.5, sigma drawn in pixels at 224 px and scaled to this size.
    if (ap.blur) {
        const int radius = ap.blurRadius();
        const std::vector<float> k = ap.blurKernel();
        std::vector<float> tmp(n);
        for (int c = 0; c < work; ++c) {
            float* p = &img[static_cast<size_t>(c) * n];
            for (int y = 0; y < outSize; ++y)
                for (int x = 0; x < outSize; ++x) {
                    float acc = 0;
                    for (int i = -radius; i <= radius; ++i)
                        acc += k[i + radius] * p[y * outSize + std::clamp(x + i, 0, outSize - 1)];
                    tmp[y * outSize + x] = acc;
                }
            for (int y = 0; y < outSize; ++y)
                for (int x = 0; x < outSize; ++x) {
                    float acc = 0;
                    for (int i = -radius; i <= radius; ++i)
                        acc += k[i + radius] * tmp[std::clamp(y + i, 0, outSize - 1) * outSize + x];
                    p[y * outSize + x] = acc;
                }
        }
    }
    // 6. Channels and normalization.
    for (int c = 0; c < outChannels; ++c) {
        float* dst = out + static_cast<size_t>(c) * n;
        for (int i = 0; i < n; ++i) {
            const float v = work == outChannels ? img[static_cast<size_t>(c) * n + i] : (outChannels == 1 ? gray(i) : img[i]);
            if (norm == InputNormalization::MinusOneToOne) {
                dst[i] = v * 2.f - 1.f;
            } else {
                const float mean = outChannels == 1 ? 0.449f : kMean[c], sd = outChannels == 1 ? 0.226f : kStd[c];
                dst[i] = (v - mean) / sd;
            }
        }
    }
}

} // namespace medsiam::core
