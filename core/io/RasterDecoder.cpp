#include "io/RasterDecoder.h"

#include "io/FileSniffer.h"
#include "util/Error.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace medsiam::core {

namespace {

Image8 toImage8(const cv::Mat& src)
{
    cv::Mat m = src;
    if (m.depth() != CV_8U) {
        double mn = 0, mx = 0;
        cv::minMaxLoc(m.reshape(1), &mn, &mx);
        const double scale = mx > mn ? 255.0 / (mx - mn) : 0.0;
        m.convertTo(m, CV_8U, scale, -mn * scale);
    }
    if (m.channels() == 4)
        cv::cvtColor(m, m, cv::COLOR_BGRA2RGB);
    else if (m.channels() == 3)
        cv::cvtColor(m, m, cv::COLOR_BGR2RGB);
    else if (m.channels() == 2) {
        std::vector<cv::Mat> planes;
        cv::split(m, planes);
        m = planes[0];
    }
    if (!m.isContinuous())
        m = m.clone();
    Image8 img(m.cols, m.rows, m.channels());
    std::copy_n(m.data, img.pixels.size(), img.pixels.data());
    return collapseGreyRgb(std::move(img));
}

// A grey page's own values (16-bit and float files keep their range) and the min-max window
// toImage8 rendered it with.
void keepGreyValues(const cv::Mat& page, DecodedFrame& f)
{
    cv::Mat grey = page;
    if (grey.channels() > 1) {
        std::vector<cv::Mat> planes;
        cv::split(grey, planes);
        grey = planes[0];
    }
    cv::Mat values;
    grey.convertTo(values, CV_32F);
    f.values.assign(values.begin<float>(), values.end<float>());
    if (page.depth() == CV_8U) {
        f.windowCentre = 127.5;
        f.windowWidth = 255;
    } else {
        double mn = 0, mx = 0;
        cv::minMaxLoc(values, &mn, &mx);
        f.windowCentre = (mn + mx) / 2;
        f.windowWidth = std::max(mx - mn, 1e-9);
    }
}

} // namespace

ImageMeta RasterDecoder::decode(const std::string& path, const DecodeOptions& options, const FrameSink& sink) const
{
    const SniffResult sniff = sniffFile(path);
    ImageMeta m;
    m.format = sniff.format;
    const int flags = cv::IMREAD_ANYDEPTH | cv::IMREAD_ANYCOLOR;
    std::vector<cv::Mat> pages;
    try {
        if (sniff.format == ImageFormat::Tiff) {
            if (!cv::imreadmulti(path, pages, flags))
                pages.clear();
        } else {
            cv::Mat one = cv::imread(path, flags);
            if (!one.empty())
                pages.push_back(one);
        }
    } catch (const cv::Exception& e) {
        throw UserError(std::string("cannot decode image: ") + e.err);
    }
    if (pages.empty())
        throw UserError(std::string("cannot decode ") + formatName(sniff.format) + " image (corrupt, truncated or unsupported)");
    m.columns = pages[0].cols;
    m.rows = pages[0].rows;
    m.bits = static_cast<int>(pages[0].elemSize1() * 8);
    m.frameCount = static_cast<int>(pages.size());
    for (int i = 0; i < m.frameCount; ++i) {
        if (options.frame >= 0 && options.frame != i)
            continue;
        if (int64_t(pages[i].cols) * pages[i].rows > options.limits.maxPixelsPerFrame)
            throw UserError("image too large");
        DecodedFrame f;
        f.index = i;
        f.image = toImage8(pages[i]);
        if (options.keepValues && f.image.channels == 1)
            keepGreyValues(pages[i], f);
        if (i == 0)
            m.photometric = f.image.channels == 3 ? "RGB" : "MONOCHROME2";
        sink(std::move(f));
    }
    if (m.photometric.empty())
        m.photometric = pages[0].channels() >= 3 ? "RGB" : "MONOCHROME2";
    if (options.frame >= m.frameCount)
        throw UserError("page " + std::to_string(options.frame) + " does not exist");
    return m;
}

} // namespace medsiam::core
