// libmedsiam_raster.so: PNG, JPEG (EXIF orientation applied), TIFF (every page) and BMP through
// OpenCV, behind the C interface of RasterModule.h.
#include "io/raster/RasterModule.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

namespace {

/// 8-bit RGB or grey: other depths stretched min-max, BGR(A) to RGB, a 2-channel page's first plane.
cv::Mat toEightBit(const cv::Mat& src)
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
    return m.isContinuous() ? m : m.clone();
}

/// A grey page's own samples as float, and the window toEightBit rendered them with.
cv::Mat greyValues(const cv::Mat& page, double& centre, double& width)
{
    cv::Mat grey = page;
    if (grey.channels() > 1) {
        std::vector<cv::Mat> planes;
        cv::split(grey, planes);
        grey = planes[0];
    }
    cv::Mat values;
    grey.convertTo(values, CV_32F);
    if (page.depth() == CV_8U) {
        centre = 127.5;
        width = 255;
    } else {
        double mn = 0, mx = 0;
        cv::minMaxLoc(values, &mn, &mx);
        centre = (mn + mx) / 2;
        width = std::max(mx - mn, 1e-9);
    }
    return values.isContinuous() ? values : values.clone();
}

void setError(char* error, size_t size, const std::string& message)
{
    if (error && size > 0)
        std::snprintf(error, size, "%s", message.c_str());
}

} // namespace

extern "C" __attribute__((visibility("default"))) int medsiam_raster_read(const char* path, int allPages, int onlyPage, int keepValues,
                                                                          long long maxPixels, MedsiamRasterSink sink, void* context,
                                                                          int* pageCount, char* error, size_t errorSize)
{
    *pageCount = 0;
    try {
        const int flags = cv::IMREAD_ANYDEPTH | cv::IMREAD_ANYCOLOR;
        // Pages are read one at a time: a TIFF of a thousand pages must not sit in memory at once.
        const int count = allPages ? static_cast<int>(cv::imcount(path, flags)) : 1;
        if (count < 1)
            return MEDSIAM_RASTER_UNREADABLE;
        *pageCount = count;
        for (int i = 0; i < count; ++i) {
            if (onlyPage >= 0 && onlyPage != i)
                continue;
            cv::Mat page;
            if (allPages) {
                std::vector<cv::Mat> one;
                if (!cv::imreadmulti(path, one, i, 1, flags) || one.empty()) {
                    if (i == 0)
                        return MEDSIAM_RASTER_UNREADABLE;
                    setError(error, errorSize, "page " + std::to_string(i + 1) + " of " + std::to_string(count) + " cannot be read");
                    return MEDSIAM_RASTER_ERROR;
                }
                page = one.front();
            } else {
                page = cv::imread(path, flags);
                if (page.empty())
                    return MEDSIAM_RASTER_UNREADABLE;
            }
            if (static_cast<long long>(page.cols) * page.rows > maxPixels)
                return MEDSIAM_RASTER_TOO_LARGE;
            const cv::Mat eight = toEightBit(page);
            MedsiamRasterPage out{};
            out.index = i;
            out.width = eight.cols;
            out.height = eight.rows;
            out.channels = eight.channels();
            out.bitsPerSample = static_cast<int>(page.elemSize1() * 8);
            out.pixels = eight.data;
            cv::Mat values;
            if (keepValues && out.channels == 1) {
                values = greyValues(page, out.windowCentre, out.windowWidth);
                out.values = values.ptr<float>();
            }
            if (sink(&out, context) != 0)
                return MEDSIAM_RASTER_STOPPED;
        }
        return MEDSIAM_RASTER_OK;
    } catch (const cv::Exception& e) {
        setError(error, errorSize, e.err);
        return MEDSIAM_RASTER_ERROR;
    } catch (const std::exception& e) {
        setError(error, errorSize, e.what());
        return MEDSIAM_RASTER_ERROR;
    }
}
