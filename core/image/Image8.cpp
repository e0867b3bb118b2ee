#include "image/Image8.h"

#include <algorithm>
#include <cmath>
#include <memory>

namespace medsiam::core {

namespace {

// Per output coordinate: the first contributing input index and its normalised weights.
struct FilterTaps {
    std::vector<int> first;
    std::vector<int> count;
    std::vector<float> weights; // count[i] weights per output, packed with stride maxTaps
    int maxTaps = 0;
};

FilterTaps makeTaps(int inSize, int outSize)
{
    FilterTaps t;
    const double scale = static_cast<double>(inSize) / outSize;
    const double support = std::max(1.0, scale); // triangle radius in input pixels
    t.maxTaps = static_cast<int>(std::ceil(support)) * 2 + 1;
    t.first.resize(outSize);
    t.count.resize(outSize);
    t.weights.assign(static_cast<size_t>(outSize) * t.maxTaps, 0.f);
    for (int o = 0; o < outSize; ++o) {
        const double centre = (o + 0.5) * scale - 0.5;
        int lo = static_cast<int>(std::floor(centre - support)) + 1;
        int hi = static_cast<int>(std::ceil(centre + support)) - 1;
        lo = std::max(lo, 0);
        hi = std::min(hi, inSize - 1);
        if (hi < lo)
            hi = lo = std::clamp(static_cast<int>(std::lround(centre)), 0, inSize - 1);
        double sum = 0;
        int n = std::min(hi - lo + 1, t.maxTaps);
        float* w = &t.weights[static_cast<size_t>(o) * t.maxTaps];
        for (int k = 0; k < n; ++k) {
            double d = std::abs((lo + k) - centre) / support;
            double v = std::max(0.0, 1.0 - d);
            w[k] = static_cast<float>(v);
            sum += v;
        }
        if (sum <= 0) {
            w[0] = 1.f;
            n = 1;
            sum = 1;
        }
        for (int k = 0; k < n; ++k)
            w[k] = static_cast<float>(w[k] / sum);
        t.first[o] = lo;
        t.count[o] = n;
    }
    return t;
}

/// Where a resize writes: `height` rows of `width` pixels, `stride` bytes apart (a whole image, or
/// the content rectangle of a letterboxed square).
struct PixelTarget {
    uint8_t* data = nullptr;
    size_t stride = 0;
    int width = 0, height = 0, channels = 0;
    uint8_t* row(int y) const { return data + static_cast<size_t>(y) * stride; }
};

} // namespace

/// Horizontal filter pass from float rows into the uint8 result, with the channel count known
/// at compile time so that the tap loop unrolls.
template <int C>
void horizontalPass(const float* tmp, int rowLen, const FilterTaps& tx, const PixelTarget& dst)
{
    for (int y = 0; y < dst.height; ++y) {
        const float* in = tmp + static_cast<size_t>(y) * rowLen;
        uint8_t* out = dst.row(y);
        for (int x = 0; x < dst.width; ++x) {
            const float* wt = &tx.weights[static_cast<size_t>(x) * tx.maxTaps];
            const float* base = in + static_cast<size_t>(tx.first[x]) * C;
            float sum[C] = {};
            const int n = tx.count[x];
            for (int k = 0; k < n; ++k)
                for (int ch = 0; ch < C; ++ch)
                    sum[ch] += wt[k] * base[k * C + ch];
            // Weights are normalised and non-negative, so sums lie within [0, 255]; +0.5 rounds.
            for (int ch = 0; ch < C; ++ch)
                out[x * C + ch] = static_cast<uint8_t>(std::min(sum[ch] + 0.5f, 255.f));
        }
    }
}

void horizontalPassAny(const float* tmp, int rowLen, const FilterTaps& tx, const PixelTarget& dst)
{
    const int c = dst.channels;
    for (int y = 0; y < dst.height; ++y) {
        const float* in = tmp + static_cast<size_t>(y) * rowLen;
        uint8_t* out = dst.row(y);
        for (int x = 0; x < dst.width; ++x) {
            const float* wt = &tx.weights[static_cast<size_t>(x) * tx.maxTaps];
            const float* base = in + static_cast<size_t>(tx.first[x]) * c;
            for (int ch = 0; ch < c; ++ch) {
                float sum = 0;
                for (int k = 0; k < tx.count[x]; ++k)
                    sum += wt[k] * base[k * c + ch];
                out[x * c + ch] = static_cast<uint8_t>(std::min(sum + 0.5f, 255.f));
            }
        }
    }
}

/// Resizes `src` into `dst` (dst.width x dst.height, the same channels).
void resizeInto(const Image8& src, const PixelTarget& dst)
{
    const int c = src.channels, w = dst.width, h = dst.height;
    if (w == src.width && h == src.height) {
        for (int y = 0; y < h; ++y)
            std::copy_n(src.row(y), static_cast<size_t>(w) * c, dst.row(y));
        return;
    }
    const FilterTaps tx = makeTaps(src.width, w);
    const FilterTaps ty = makeTaps(src.height, h);
    if (src.height < h) {
        // Enlarging vertically: the horizontal pass (scalar, per output pixel) runs on the fewer
        // source rows into float rows of the output width, then a vertical pass along rows
        // (which vectorizes) makes the output rows.
        const int outLen = w * c;
        // Every element is written before it is read: no zero-filling.
        std::unique_ptr<float[]> tmp(new float[static_cast<size_t>(outLen) * src.height]);
        for (int y = 0; y < src.height; ++y) {
            const uint8_t* in = src.row(y);
            float* out = &tmp[static_cast<size_t>(y) * outLen];
            for (int x = 0; x < w; ++x) {
                const float* wt = &tx.weights[static_cast<size_t>(x) * tx.maxTaps];
                const uint8_t* base = in + static_cast<size_t>(tx.first[x]) * c;
                for (int ch = 0; ch < c; ++ch) {
                    float sum = 0;
                    for (int k = 0; k < tx.count[x]; ++k)
                        sum += wt[k] * base[k * c + ch];
                    out[x * c + ch] = sum;
                }
            }
        }
        std::vector<float> row(static_cast<size_t>(outLen));
        for (int y = 0; y < h; ++y) {
            const float* wt = &ty.weights[static_cast<size_t>(y) * ty.maxTaps];
            std::fill(row.begin(), row.end(), 0.f);
            for (int k = 0; k < ty.count[y]; ++k) {
                const float* in = &tmp[static_cast<size_t>(ty.first[y] + k) * outLen];
                const float weight = wt[k];
                for (int i = 0; i < outLen; ++i)
                    row[i] += weight * in[i];
            }
            uint8_t* out = dst.row(y);
            // Weights are normalised and non-negative, so sums lie within [0, 255]; +0.5 rounds.
            for (int i = 0; i < outLen; ++i)
                out[i] = static_cast<uint8_t>(std::min(row[i] + 0.5f, 255.f));
        }
        return;
    }
    // Vertical pass first, into float rows of the source width: its inner loop runs along a
    // row and vectorizes. The horizontal pass then touches only the (few) output rows.
    const int rowLen = src.width * c;
    std::unique_ptr<float[]> tmp(new float[static_cast<size_t>(rowLen) * h]); // each row zeroed below
    for (int y = 0; y < h; ++y) {
        const float* wt = &ty.weights[static_cast<size_t>(y) * ty.maxTaps];
        float* out = &tmp[static_cast<size_t>(y) * rowLen];
        std::fill(out, out + rowLen, 0.f);
        for (int k = 0; k < ty.count[y]; ++k) {
            const uint8_t* in = src.row(ty.first[y] + k);
            const float weight = wt[k];
            for (int i = 0; i < rowLen; ++i)
                out[i] += weight * in[i];
        }
    }
    if (c == 1)
        horizontalPass<1>(tmp.get(), rowLen, tx, dst);
    else if (c == 3)
        horizontalPass<3>(tmp.get(), rowLen, tx, dst);
    else
        horizontalPassAny(tmp.get(), rowLen, tx, dst);
}

Image8 resizeImage(const Image8& src, int w, int h)
{
    if (src.empty() || w <= 0 || h <= 0)
        return {};
    if (w == src.width && h == src.height)
        return src;
    Image8 dst(w, h, src.channels);
    resizeInto(src, {dst.pixels.data(), static_cast<size_t>(w) * src.channels, w, h, src.channels});
    return dst;
}

FittedImage fitToSquare(const Image8& src, int side)
{
    FittedImage f;
    f.image = Image8(side, side, src.channels);
    if (src.empty() || side <= 0)
        return f;
    const double scale = static_cast<double>(side) / std::max(src.width, src.height);
    const int w = std::clamp(static_cast<int>(std::lround(src.width * scale)), 1, side);
    const int h = std::clamp(static_cast<int>(std::lround(src.height * scale)), 1, side);
    f.content = {(side - w) / 2, (side - h) / 2, w, h};
    // Straight into the content rectangle of the black square.
    uint8_t* origin = f.image.row(f.content.y) + static_cast<size_t>(f.content.x) * src.channels;
    resizeInto(src, {origin, static_cast<size_t>(side) * src.channels, w, h, src.channels});
    return f;
}

Image8 resizeNearest(const Image8& src, int w, int h)
{
    Image8 dst(w, h, src.channels);
    for (int y = 0; y < h; ++y) {
        const int sy = static_cast<int>(static_cast<long long>(y) * src.height / h);
        for (int x = 0; x < w; ++x) {
            const int sx = static_cast<int>(static_cast<long long>(x) * src.width / w);
            for (int c = 0; c < src.channels; ++c)
                dst.row(y)[x * src.channels + c] = src.row(sy)[sx * src.channels + c];
        }
    }
    return dst;
}

Image8 collapseGreyRgb(Image8 src)
{
    if (src.channels != 3)
        return src;
    const size_t n = static_cast<size_t>(src.width) * src.height;
    for (size_t i = 0; i < n; ++i) {
        const uint8_t* p = &src.pixels[i * 3];
        if (p[0] != p[1] || p[1] != p[2])
            return src;
    }
    Image8 grey(src.width, src.height, 1);
    for (size_t i = 0; i < n; ++i)
        grey.pixels[i] = src.pixels[i * 3];
    return grey;
}

} // namespace medsiam::core
