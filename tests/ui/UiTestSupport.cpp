#include "UiTestSupport.h"

#include "image/Png.h"
#include "project/Project.h"

#include <QDir>

namespace medsiam::test {

void writeImageFolder(const QString& folder, int n, int side, bool noisy)
{
    uint32_t state = 12345;
    QDir().mkpath(folder);
    for (int i = 0; i < n; ++i) {
        core::Image8 img(side, side, 1);
        for (int y = 0; y < side; ++y)
            for (int x = 0; x < side; ++x)
                img.pixels[size_t(y) * side + x] =
                    noisy ? static_cast<uint8_t>((state = state * 1664525u + 1013904223u) >> 24)
                          : static_cast<uint8_t>((i * 37 + x * 5 + y) & 0xff);
        // The first two pixels spell the index, so that no two files have the same content.
        img.pixels[0] = static_cast<uint8_t>(i & 0xff);
        img.pixels[1] = static_cast<uint8_t>((i >> 8) & 0xff);
        core::writePng(QDir(folder).filePath(QStringLiteral("img%1.png").arg(i, 5, 10, QLatin1Char('0'))).toStdString(), img);
    }
}

void writeSyntheticCatalogue(const QString& projectDir, int n, int perPatient)
{
    auto p = core::Project::create(projectDir.toStdString(), 32);
    core::Database::Transaction tx(p->db());
    for (int i = 0; i < n; ++i) {
        core::ImageRecord r;
        r.sourcePath = "/nonexistent/img" + std::to_string(i) + ".png";
        r.relativePath = "img" + std::to_string(i) + ".png";
        r.meta.format = core::ImageFormat::Png;
        r.meta.rows = 32;
        r.meta.columns = 32;
        r.meta.patientId = "P" + std::to_string(i / std::max(perPatient, 1));
        r.contentHash = std::to_string(i);
        p->insertImage(r);
    }
    tx.commit();
}

} // namespace medsiam::test
