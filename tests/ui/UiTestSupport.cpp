#include "UiTestSupport.h"

#include "image/Png.h"
#include "models/ModelConfig.h"
#include "project/Importer.h"
#include "project/Project.h"
#include "train/TrainConfig.h"

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

std::unique_ptr<core::Project> makeImportedProject(const QString& dir, const QString& src, int n, bool twoClasses)
{
    writeImageFolder(src, n, 16, true);
    auto p = core::Project::create(dir.toStdString(), 32);
    core::ImportOptions o;
    o.sources = {src.toStdString()};
    core::importSources(*p, o);
    p->ensureClass("normal");
    if (twoClasses)
        p->ensureClass("pneumonia");
    return p;
}

void labelAlternately(core::Project& project, int count)
{
    const int64_t normal = project.ensureClass("normal"), pneumonia = project.ensureClass("pneumonia");
    std::vector<std::pair<int64_t, int64_t>> labels;
    const auto rows = project.catalogue();
    for (int i = 0; i < count && i < static_cast<int>(rows.size()); ++i)
        labels.emplace_back(rows[static_cast<size_t>(i)].imageId, i % 2 ? pneumonia : normal);
    project.setLabels(labels, "user");
}

void assignSplits(core::Project& project, const std::function<std::string(int)>& splitOf)
{
    std::vector<std::pair<int64_t, std::string>> splits;
    const auto rows = project.catalogue();
    for (size_t i = 0; i < rows.size(); ++i)
        splits.emplace_back(rows[i].imageId, splitOf(static_cast<int>(i)));
    project.replaceSplits(splits);
}

core::PretrainConfig tinyPretrain(int steps, int batch, int inputSize)
{
    core::PretrainConfig c;
    c.model.backbone = core::backbonePreset("bit-nano");
    c.model.backbone.inChannels = 1;
    c.model.simsiamHeads = true;
    c.model.heads = core::defaultHeads(c.model.backbone);
    c.steps = steps;
    c.batch = batch;
    c.inputSize = inputSize;
    c.checkpointEvery = std::max(1, steps / 2);
    return c;
}

} // namespace medsiam::test
