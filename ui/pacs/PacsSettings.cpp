#include "pacs/PacsSettings.h"

#include "util/Error.h"

#include <QSettings>

#include <algorithm>

namespace medsiam::ui {

namespace {
const QString kGroup = QStringLiteral("pacs");
} // namespace

PacsSettings PacsSettings::load()
{
    PacsSettings s;
    QSettings q;
    q.beginGroup(kGroup);
    const int n = q.beginReadArray(QStringLiteral("nodes"));
    for (int i = 0; i < n; ++i) {
        q.setArrayIndex(i);
        core::PacsNode node;
        node.name = q.value(QStringLiteral("name")).toString().toStdString();
        node.aeTitle = q.value(QStringLiteral("aeTitle")).toString().toStdString();
        node.host = q.value(QStringLiteral("host")).toString().toStdString();
        node.port = q.value(QStringLiteral("port"), 104).toInt();
        try {
            core::checkNode(node);
        } catch (const core::UserError&) {
            continue;
        }
        if (!node.name.empty() && !s.find(QString::fromStdString(node.name)))
            s.nodes.push_back(node);
    }
    q.endArray();
    s.currentNode = q.value(QStringLiteral("currentNode")).toString();
    const QString ae = q.value(QStringLiteral("ourAeTitle"), s.ourAeTitle).toString();
    if (!core::aeTitleProblem(ae.toStdString()))
        s.ourAeTitle = ae;
    s.method = q.value(QStringLiteral("method")).toString() == QLatin1String("move") ? core::RetrieveMethod::Move : core::RetrieveMethod::Get;
    const int port = q.value(QStringLiteral("storagePort"), s.storagePort).toInt();
    if (port >= 1 && port <= 65535)
        s.storagePort = port;
    const int timeout = q.value(QStringLiteral("timeoutSeconds"), s.timeoutSeconds).toInt();
    if (timeout >= 1 && timeout <= 3600)
        s.timeoutSeconds = timeout;
    q.endGroup();
    return s;
}

void PacsSettings::save() const
{
    QSettings q;
    q.beginGroup(kGroup);
    q.remove(QStringLiteral("nodes"));
    q.beginWriteArray(QStringLiteral("nodes"), static_cast<int>(nodes.size()));
    for (int i = 0; i < static_cast<int>(nodes.size()); ++i) {
        q.setArrayIndex(i);
        const core::PacsNode& node = nodes[static_cast<size_t>(i)];
        q.setValue(QStringLiteral("name"), QString::fromStdString(node.name));
        q.setValue(QStringLiteral("aeTitle"), QString::fromStdString(node.aeTitle));
        q.setValue(QStringLiteral("host"), QString::fromStdString(node.host));
        q.setValue(QStringLiteral("port"), node.port);
    }
    q.endArray();
    q.setValue(QStringLiteral("currentNode"), currentNode);
    q.setValue(QStringLiteral("ourAeTitle"), ourAeTitle);
    q.setValue(QStringLiteral("method"), method == core::RetrieveMethod::Move ? QStringLiteral("move") : QStringLiteral("get"));
    q.setValue(QStringLiteral("storagePort"), storagePort);
    q.setValue(QStringLiteral("timeoutSeconds"), timeoutSeconds);
    q.endGroup();
    q.sync();
}

const core::PacsNode* PacsSettings::find(const QString& name) const
{
    const std::string n = name.toStdString();
    auto it = std::find_if(nodes.begin(), nodes.end(), [&](const core::PacsNode& x) { return x.name == n; });
    return it == nodes.end() ? nullptr : &*it;
}

QString PacsSettings::put(const core::PacsNode& node, const QString& replacing)
{
    const QString name = QString::fromStdString(node.name).trimmed();
    if (name.isEmpty())
        return QObject::tr("Give the node a name (for example, the hospital's archive).");
    try {
        core::checkNode(node);
    } catch (const core::UserError& e) {
        return QString::fromUtf8(e.what());
    }
    if (name != replacing && find(name))
        return QObject::tr("There is a node named '%1' already.").arg(name);
    core::PacsNode n = node;
    n.name = name.toStdString();
    const std::string old = replacing.toStdString();
    auto it = std::find_if(nodes.begin(), nodes.end(), [&](const core::PacsNode& x) { return x.name == old; });
    if (!replacing.isEmpty() && it != nodes.end())
        *it = n;
    else
        nodes.push_back(n);
    return {};
}

void PacsSettings::remove(const QString& name)
{
    const std::string n = name.toStdString();
    nodes.erase(std::remove_if(nodes.begin(), nodes.end(), [&](const core::PacsNode& x) { return x.name == n; }), nodes.end());
    if (currentNode == name)
        currentNode.clear();
}

} // namespace medsiam::ui
