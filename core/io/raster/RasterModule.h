#pragma once
// The C interface of medsiam's OpenCV raster module (libmedsiam_raster.so). OpenCV's image codecs
// bring GDAL and some ninety libraries with them, about 55 ms of start-up for every process that
// links them, so the module is loaded only when a PNG, JPEG, TIFF or BMP file is first decoded
// (see RasterDecoder). Plain C types only: no exception and no C++ object crosses the boundary.
#include <stddef.h>

extern "C" {

/// One decoded page, 8-bit, RGB or grey (alpha dropped; other depths stretched min-max).
struct MedsiamRasterPage {
    int index;
    int width, height, channels; ///< channels: 1 or 3
    int bitsPerSample;           ///< of the file's samples (8, 16, 32 ...)
    const unsigned char* pixels; ///< width * height * channels bytes, rows top to bottom
    const float* values;         ///< grey pages when values were asked for: the file's own samples
    double windowCentre, windowWidth; ///< the window `pixels` were rendered with, over `values`
};

/// Receives each page; returns 0 to go on, anything else to stop.
typedef int (*MedsiamRasterSink)(const MedsiamRasterPage* page, void* context);

enum MedsiamRasterStatus {
    MEDSIAM_RASTER_OK = 0,
    MEDSIAM_RASTER_UNREADABLE = 1, ///< nothing decoded: corrupt, truncated or unsupported
    MEDSIAM_RASTER_ERROR = 2,      ///< OpenCV failed; the message is in `error`
    MEDSIAM_RASTER_TOO_LARGE = 3,  ///< a page has more than maxPixels pixels
    MEDSIAM_RASTER_STOPPED = 4,    ///< the sink asked to stop
};

/// Decodes `path` (every page when allPages, else the first), delivering page `onlyPage` or, when
/// it is negative, every page. Sets *pageCount to the number of pages found.
typedef int (*MedsiamRasterReadFn)(const char* path, int allPages, int onlyPage, int keepValues, long long maxPixels,
                                   MedsiamRasterSink sink, void* context, int* pageCount, char* error, size_t errorSize);

#define MEDSIAM_RASTER_READ_SYMBOL "medsiam_raster_read"
}
