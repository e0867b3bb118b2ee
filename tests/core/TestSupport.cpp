#include "TestSupport.h"

#include <QJsonDocument>
#include <QProcess>

#include "util/Error.h"

#include <QDir>
#include <QFile>
#include <QTest>

namespace medsiam::test {

std::string errorOf(const std::function<void()>& f)
{
    try {
        f();
    } catch (const core::UserError& e) {
        return e.what();
    }
    return "(no error)";
}

QString systemPython() { return QStringLiteral("/usr/bin/python3"); }

void writeBytes(const QString& path, const std::vector<uint8_t>& bytes)
{
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly))
        qFatal("cannot write %s", qPrintable(path));
    f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<qint64>(bytes.size()));
}

void writeText(const QString& path, const std::string& text)
{
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly))
        qFatal("cannot write %s", qPrintable(path));
    f.write(text.data(), static_cast<qint64>(text.size()));
}

/// A small two-class dataset (discs vs rings with noise, 28 px) as a NumPy archive, imported
/// with medsiam-cli at 32 px: 160 train, 40 val, 40 test images.
QJsonObject readJsonFile(const QString& path)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return {};
    return QJsonDocument::fromJson(f.readAll()).object();
}

QString makeShapesProject(const QString& dir, const QString& cli)
{
    const QString npz = dir + "/shapes.npz", project = dir + "/shapes.medsiam";
    const QString script = QString(R"PY(
import numpy as np
rng = np.random.default_rng(7)
yy, xx = np.mgrid[0:28, 0:28]
def make(n):
    imgs, labels = [], []
    for i in range(n):
        c = i % 2
        cx, cy, r = rng.uniform(10, 18), rng.uniform(10, 18), rng.uniform(5, 9)
        d = np.hypot(xx - cx, yy - cy)
        shape = (d < r) if c == 0 else (np.abs(d - r) < 1.5)
        img = 40 + 160 * shape + rng.normal(0, 20, (28, 28))
        imgs.append(np.clip(img, 0, 255).astype(np.uint8)); labels.append([c])
    return np.stack(imgs), np.array(labels, dtype=np.uint8)
tr, trl = make(160); va, val = make(40); te, tel = make(40)
np.savez('%1', train_images=tr, train_labels=trl, val_images=va, val_labels=val, test_images=te, test_labels=tel)
)PY").arg(npz);
    QProcess py;
    py.start(systemPython(), {"-c", script});
    if (!py.waitForFinished(60000) || py.exitCode() != 0)
        return {};
    QProcess import;
    import.start(cli, {"import", npz, "--project", project, "--size", "32"});
    if (!import.waitForFinished(120000) || import.exitCode() != 0)
        return {};
    return project;
}

} // namespace medsiam::test
