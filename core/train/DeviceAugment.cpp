#include "train/DeviceAugment.h"

#include "train/Features.h"
#include "util/Error.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace medsiam::core {

namespace {

/// One axis of the bilinear resample, for every sample: applyAugment's taps (bilinearTap).
struct Taps {
    std::vector<int64_t> lo, hi;
    std::vector<float> w;
};

Taps axisTaps(const std::vector<AugmentParams>& params, int side, int outSize, bool horizontal)
{
    const size_t b = params.size();
    Taps t;
    t.lo.resize(b * outSize);
    t.hi.resize(b * outSize);
    t.w.resize(b * outSize);
    for (size_t s = 0; s < b; ++s) {
        const AugmentParams& p = params[s];
        const double start = horizontal ? p.cropX : p.cropY;
        const double step = (horizontal ? p.cropW : p.cropH) / outSize;
        for (int o = 0; o < outSize; ++o) {
            // A flipped view's output column o holds what column outSize - 1 - o would have.
            const BilinearTap tap = bilinearTap(start, step, horizontal && p.flip ? outSize - 1 - o : o, side);
            t.lo[s * outSize + o] = tap.lo;
            t.hi[s * outSize + o] = tap.hi;
            t.w[s * outSize + o] = tap.w;
        }
    }
    return t;
}

at::Tensor bools(const std::vector<AugmentParams>& params, bool (*pick)(const AugmentParams&), const at::Device& device)
{
    std::vector<uint8_t> v(params.size());
    for (size_t i = 0; i < params.size(); ++i)
        v[i] = pick(params[i]) ? 1 : 0;
    return at::from_blob(v.data(), {static_cast<int64_t>(v.size())}, at::kByte).to(at::kBool).to(device);
}

at::Tensor floats(const std::vector<float>& v, const at::Device& device)
{
    return at::from_blob(const_cast<float*>(v.data()), {static_cast<int64_t>(v.size())}, at::kFloat).clone().to(device);
}

at::Tensor luminance(const at::Tensor& img)
{
    return img.select(1, 0) * 0.299f + img.select(1, 1) * 0.587f + img.select(1, 2) * 0.114f;
}

/// [B, 1, 1, 1] of a per-sample vector, for broadcasting over [B, C, H, W].
at::Tensor perSample(const at::Tensor& v)
{
    return v.view({-1, 1, 1, 1});
}

} // namespace

at::Tensor gatherPixels(const ImageCache& cache, const std::vector<int64_t>& indices, bool pinned, std::vector<bool>* colour)
{
    const int side = cache.side();
    const int64_t n = static_cast<int64_t>(indices.size());
    bool anyColour = false;
    colour->assign(indices.size(), false);
    for (size_t b = 0; b < indices.size(); ++b) {
        (*colour)[b] = cache.entries()[static_cast<size_t>(indices[b])].channels == 3;
        anyColour = anyColour || (*colour)[b];
    }
    const int channels = anyColour ? 3 : 1;
    auto options = at::TensorOptions().dtype(at::kByte);
    if (pinned)
        options = options.pinned_memory(true);
    at::Tensor out = at::empty({n, side, side, channels}, options);
    uint8_t* dst = out.data_ptr<uint8_t>();
    const size_t plane = static_cast<size_t>(side) * side;
    at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
        for (int64_t b = begin; b < end; ++b) {
            const size_t i = static_cast<size_t>(indices[static_cast<size_t>(b)]);
            const uint8_t* src = cache.pixels(i);
            uint8_t* d = dst + static_cast<size_t>(b) * plane * channels;
            if (cache.entries()[i].channels == channels) {
                std::memcpy(d, src, plane * channels);
            } else { // a grey image in a batch with colour ones: three equal channels
                for (size_t p = 0; p < plane; ++p)
                    d[3 * p] = d[3 * p + 1] = d[3 * p + 2] = src[p];
            }
        }
    });
    return out;
}

at::Tensor augmentBatch(const at::Tensor& pixels, const std::vector<AugmentParams>& params, const std::vector<bool>& colour,
                        int outSize, int outChannels, InputNormalization norm)
{
    if (pixels.dim() != 4 || pixels.scalar_type() != at::kByte || pixels.size(1) != pixels.size(2) ||
        (pixels.size(3) != 1 && pixels.size(3) != 3) || pixels.size(0) != static_cast<int64_t>(params.size()))
        throw UserError("augmentBatch: expected uint8 [B, side, side, 1 or 3] pixels and one set of choices per sample");
    const at::Device device = pixels.device();
    const int64_t b = pixels.size(0);
    const int side = static_cast<int>(pixels.size(1));
    const int64_t work = pixels.size(3);
    const int64_t o = outSize;
    if (work == 3 && colour.size() != params.size())
        throw UserError("augmentBatch: three-channel pixels need to know which samples are colour images");
    const at::Tensor x = pixels.permute({0, 3, 1, 2}).to(at::kFloat); // [B, C, S, S], 0..255

    // 2. Bilinear resample of each crop (with its flip) to outSize x outSize.
    const Taps ty = axisTaps(params, side, outSize, false), tx = axisTaps(params, side, outSize, true);
    auto longs = [&](const std::vector<int64_t>& v) {
        return at::from_blob(const_cast<int64_t*>(v.data()), {b, o}, at::kLong).clone().to(device);
    };
    const at::Tensor y0 = longs(ty.lo).view({b, 1, o, 1}).expand({b, work, o, side});
    const at::Tensor y1 = longs(ty.hi).view({b, 1, o, 1}).expand({b, work, o, side});
    const at::Tensor x0 = longs(tx.lo).view({b, 1, 1, o}).expand({b, work, o, o});
    const at::Tensor x1 = longs(tx.hi).view({b, 1, 1, o}).expand({b, work, o, o});
    const at::Tensor wy = floats(ty.w, device).view({b, 1, o, 1});
    const at::Tensor wx = floats(tx.w, device).view({b, 1, 1, o});
    const at::Tensor r0 = x.gather(2, y0), r1 = x.gather(2, y1);
    const at::Tensor p00 = r0.gather(3, x0), p01 = r0.gather(3, x1), p10 = r1.gather(3, x0), p11 = r1.gather(3, x1);
    const at::Tensor top = p00 + wx * (p01 - p00);
    const at::Tensor bottom = p10 + wx * (p11 - p10);
    at::Tensor img = (top + wy * (bottom - top)) / 255.f; // [B, C, o, o] in [0, 1]

    // Colour samples have a luminance; a grey one (alone, or replicated into three channels in a
    // batch with colour ones) is its own grey, as in applyAugment, which works on it in one channel.
    at::Tensor colourMask; // [B, 1, 1, 1]
    if (work == 3) {
        std::vector<uint8_t> c(colour.begin(), colour.end());
        colourMask = perSample(at::from_blob(c.data(), {b}, at::kByte).to(at::kBool).to(device));
    }
    auto gray = [&](const at::Tensor& t) { // [B, o, o]
        return work == 3 ? at::where(colourMask.view({b, 1, 1}), luminance(t), t.select(1, 0)) : t.select(1, 0);
    };

    // 3. Colour jitter.
    auto any = [&](bool (*pick)(const AugmentParams&)) { return std::any_of(params.begin(), params.end(), pick); };
    if (any([](const AugmentParams& p) { return p.jitter; })) {
        const at::Tensor jitter = perSample(bools(params, [](const AugmentParams& p) { return p.jitter; }, device));
        std::vector<float> bright(static_cast<size_t>(b)), contrast(static_cast<size_t>(b));
        for (size_t i = 0; i < params.size(); ++i) {
            bright[i] = params[i].brightness;
            contrast[i] = params[i].contrast;
        }
        at::Tensor j = (img * perSample(floats(bright, device))).clamp(0.f, 1.f);
        const at::Tensor mean = perSample(gray(j).to(at::kDouble).sum({1, 2}).div(double(o * o)).to(at::kFloat));
        j = (mean + perSample(floats(contrast, device)) * (j - mean)).clamp(0.f, 1.f);
        if (work == 3) {
            std::vector<float> sat(static_cast<size_t>(b)), cosH(static_cast<size_t>(b)), sinH(static_cast<size_t>(b));
            for (size_t i = 0; i < params.size(); ++i) {
                sat[i] = params[i].saturation;
                cosH[i] = static_cast<float>(std::cos(params[i].hueTurn));
                sinH[i] = static_cast<float>(std::sin(params[i].hueTurn));
            }
            const at::Tensor s = floats(sat, device).view({b, 1, 1});
            const at::Tensor c = floats(cosH, device).view({b, 1, 1}), sn = floats(sinH, device).view({b, 1, 1});
            const at::Tensor g = luminance(j);
            const at::Tensor r = g + s * (j.select(1, 0) - g), gg = g + s * (j.select(1, 1) - g), bb = g + s * (j.select(1, 2) - g);
            const at::Tensor Y = r * 0.299f + gg * 0.587f + bb * 0.114f;
            const at::Tensor I = r * 0.596f - gg * 0.274f - bb * 0.322f;
            const at::Tensor Q = r * 0.211f - gg * 0.523f + bb * 0.312f;
            const at::Tensor I2 = I * c - Q * sn, Q2 = I * sn + Q * c;
            const at::Tensor hued = at::stack({(Y + I2 * 0.956f + Q2 * 0.621f).clamp(0.f, 1.f),
                                               (Y - I2 * 0.272f - Q2 * 0.647f).clamp(0.f, 1.f),
                                               (Y - I2 * 1.106f + Q2 * 1.703f).clamp(0.f, 1.f)},
                                              1);
            j = at::where(colourMask, hued, j); // saturation and hue are for colour images

        }
        img = at::where(jitter, j, img);
    }
    // 4. Grayscale.
    if (work == 3 && any([](const AugmentParams& p) { return p.grayscale; })) {
        const at::Tensor g = perSample(bools(params, [](const AugmentParams& p) { return p.grayscale; }, device));
        img = at::where(g, luminance(img).unsqueeze(1).expand_as(img), img);
    }
    // 5. Gaussian blur: per-sample kernels, zero beyond each sample's own radius (a delta for the
    // samples without blur), border pixels repeated, as a grouped convolution per direction.
    int radius = 0;
    for (const auto& p : params)
        radius = std::max(radius, p.blurRadius());
    if (radius > 0) {
        const int64_t k = 2 * radius + 1;
        std::vector<float> kernels(static_cast<size_t>(b * k), 0.f);
        for (size_t i = 0; i < params.size(); ++i) {
            float* kk = &kernels[i * static_cast<size_t>(k)];
            const int r = params[i].blurRadius();
            if (r == 0) {
                kk[radius] = 1.f; // a delta: no blur
                continue;
            }
            const std::vector<float> own = params[i].blurKernel(); // centred in the widest kernel
            std::copy(own.begin(), own.end(), kk + (radius - r));
        }
        const at::Tensor w = floats(kernels, device).view({b, 1, k}).expand({b, work, k}).reshape({b * work, 1, 1, k});
        at::Tensor t = img.reshape({1, b * work, o, o});
        const std::vector<int64_t> ones{1, 1}, zeros{0, 0};
        const at::Tensor bias; // none
        t = at::conv2d(at::replication_pad2d(t, {radius, radius, 0, 0}), w, bias, ones, zeros, ones, b * work);
        t = at::conv2d(at::replication_pad2d(t, {0, 0, radius, radius}), w.view({b * work, 1, k, 1}), bias, ones, zeros, ones, b * work);
        img = t.view({b, work, o, o});
    }
    // 6. Channels and normalization.
    at::Tensor v;
    if (work == outChannels) {
        v = img;
    } else if (outChannels == 1) {
        v = gray(img).unsqueeze(1);
    } else {
        v = img.expand({b, 3, o, o});
    }
    if (norm == InputNormalization::MinusOneToOne)
        return v * 2.f - 1.f;
    if (outChannels == 1)
        return (v - 0.449f) / 0.226f;
    const at::Tensor mean = at::tensor({0.485f, 0.456f, 0.406f}, at::TensorOptions().dtype(at::kFloat)).to(device).view({1, 3, 1, 1});
    const at::Tensor sd = at::tensor({0.229f, 0.224f, 0.225f}, at::TensorOptions().dtype(at::kFloat)).to(device).view({1, 3, 1, 1});
    return (v - mean) / sd;
}

namespace {

HostBatch prepareOnHost(const ImageCache& cache, const std::vector<int64_t>& indices, int size, const AugmentConfig& augment,
                        uint64_t runSeed, int64_t step, int view, bool pinned, int64_t sampleOffset)
{
    HostBatch h;
    h.pixels = gatherPixels(cache, indices, pinned, &h.colour);
    h.params.resize(indices.size());
    for (size_t b = 0; b < indices.size(); ++b)
        h.params[b] = drawAugmentParams(augment, cache.side(), h.colour[b] ? 3 : 1, size,
                                        augmentSeed(runSeed, step, sampleOffset + static_cast<int64_t>(b), view));
    return h;
}

at::Tensor augmentOnDevice(const HostBatch& h, int size, int channels, InputNormalization norm, const at::Device& device)
{
    return augmentBatch(h.pixels.to(device, /*non_blocking=*/true), h.params, h.colour, size, channels, norm);
}

} // namespace

at::Tensor makeBatchOnDevice(const ImageCache& cache, const std::vector<int64_t>& indices, int size, int channels,
                             const AugmentConfig& augment, InputNormalization norm, uint64_t runSeed, int64_t step, int view,
                             const at::Device& device, int64_t sampleOffset)
{
    return augmentOnDevice(prepareOnHost(cache, indices, size, augment, runSeed, step, view, device.is_cuda(), sampleOffset), size,
                           channels, norm, device);
}

HostBatch prepareTrainingBatch(const ImageCache& cache, const std::vector<int64_t>& indices, int size, int channels,
                               const AugmentConfig& augment, InputNormalization norm, uint64_t runSeed, int64_t step, int view,
                               const at::Device& device, int64_t sampleOffset)
{
    if (!device.is_cuda()) {
        HostBatch h;
        h.pixels = makeBatch(cache, indices, size, channels, augment, norm, runSeed, step, view, sampleOffset);
        return h;
    }
    return prepareOnHost(cache, indices, size, augment, runSeed, step, view, true, sampleOffset);
}

at::Tensor finishTrainingBatch(HostBatch host, int size, int channels, InputNormalization norm, const at::Device& device)
{
    if (!device.is_cuda())
        return std::move(host.pixels);
    return augmentOnDevice(host, size, channels, norm, device).contiguous(at::MemoryFormat::ChannelsLast);
}

at::Tensor makeTrainingBatch(const ImageCache& cache, const std::vector<int64_t>& indices, int size, int channels,
                             const AugmentConfig& augment, InputNormalization norm, uint64_t runSeed, int64_t step, int view,
                             const at::Device& device, int64_t sampleOffset)
{
    return finishTrainingBatch(prepareTrainingBatch(cache, indices, size, channels, augment, norm, runSeed, step, view, device, sampleOffset),
                               size, channels, norm, device);
}

} // namespace medsiam::core
