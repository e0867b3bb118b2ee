#include "TestSupport.h"

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

QString sharedDir()
{
    const QByteArray env = qgetenv("MEDSIAM_SHARED_DIR");
    if (!env.isEmpty())
        return QString::fromLocal8Bit(env);
    return QDir::cleanPath(QStringLiteral(MEDSIAM_SOURCE_DIR "/../shared"));
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

} // namespace medsiam::test
