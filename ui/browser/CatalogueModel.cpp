#include "browser/CatalogueModel.h"

#include "browser/ThumbnailLoader.h"
#include "project/Project.h"
#include "project/ProjectSession.h"

#include <QFileInfo>

#include <algorithm>

namespace medsiam::ui {

namespace {

QString fileLabel(const core::CatalogueRow& r)
{
    QString name = QString::fromStdString(r.relativePath).section(QLatin1Char('/'), -1);
    if (r.frameCount > 1)
        name += QStringLiteral(" [%1]").arg(r.frameIndex);
    return name;
}

} // namespace

CatalogueModel::CatalogueModel(ProjectSession& session, ThumbnailLoader& thumbnails, QObject* parent)
    : QAbstractListModel(parent), m_session(session), m_thumbnails(thumbnails)
{
    connect(&session, &ProjectSession::catalogueReloaded, this, &CatalogueModel::rebuild);
    connect(&session, &ProjectSession::labelsChanged, this, &CatalogueModel::onLabelsChanged);
    connect(&session, &ProjectSession::classesChanged, this, [this] {
        if (!m_visible.empty())
            Q_EMIT dataChanged(index(0), index(rowCount() - 1));
    });
    connect(&session, &ProjectSession::predictionsChanged, this, [this] {
        if (m_filter.predicted >= 0 || m_sort == BrowserSort::LeastCertain)
            rebuild();
        else if (!m_visible.empty())
            Q_EMIT dataChanged(index(0), index(rowCount() - 1));
    });
    connect(&thumbnails, &ThumbnailLoader::thumbnailReady, this, &CatalogueModel::onThumbnailReady);
    rebuild();
}

int CatalogueModel::rowCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : static_cast<int>(m_visible.size());
}

QVariant CatalogueModel::data(const QModelIndex& index, int role) const
{
    if (!index.isValid() || index.row() >= rowCount())
        return {};
    const core::CatalogueRow& r = m_session.rows()[m_visible[index.row()]];
    switch (role) {
    case Qt::DisplayRole:
        return fileLabel(r);
    case Qt::ToolTipRole: {
        QString tip = QString::fromStdString(r.relativePath);
        if (r.frameCount > 1)
            tip += tr("\nframe %1 of %2").arg(r.frameIndex + 1).arg(r.frameCount);
        tip += tr("\n%1 x %2 %3 %4").arg(r.columns).arg(r.rows).arg(QString::fromStdString(r.format), QString::fromStdString(r.modality));
        if (!r.patientId.empty())
            tip += tr("\npatient %1").arg(QString::fromStdString(r.patientId));
        tip += tr("\nclass: %1").arg(r.classId > 0 ? m_session.className(r.classId) : tr("unlabeled"));
        if (!r.split.empty())
            tip += tr("\nsplit: %1").arg(QString::fromStdString(r.split));
        if (const auto* p = m_session.predictionOf(r.imageId); p && p->predicted < static_cast<int>(m_session.classes().size()))
            tip += tr("\npredicted: %1 (probability %2, margin %3) by %4")
                       .arg(QString::fromStdString(m_session.classes()[static_cast<size_t>(p->predicted)].name))
                       .arg(double(p->confidence), 0, 'f', 2)
                       .arg(double(p->margin), 0, 'f', 2)
                       .arg(m_session.predictionsRun());
        return tip;
    }
    case PredictionRole: {
        const auto* p = m_session.predictionOf(r.imageId);
        if (!p || p->predicted >= static_cast<int>(m_session.classes().size()))
            return {};
        return QStringLiteral("%1 %2").arg(QString::fromStdString(m_session.classes()[static_cast<size_t>(p->predicted)].name))
            .arg(double(p->confidence), 0, 'f', 2);
    }
    case Qt::DecorationRole: {
        const QImage* img = m_thumbnails.cached(r.imageId);
        return img && !img->isNull() ? QVariant(*img) : QVariant();
    }
    case ThumbnailStateRole: {
        const QImage* img = m_thumbnails.cached(r.imageId);
        return !img ? 0 : img->isNull() ? 2 : 1;
    }
    case ImageIdRole:
        return QVariant::fromValue<qint64>(r.imageId);
    case ClassIdRole:
        return QVariant::fromValue<qint64>(r.classId);
    case ClassColorRole:
        return r.classId > 0 ? QVariant(m_session.classColor(r.classId)) : QVariant();
    case ClassNameRole:
        return r.classId > 0 ? QVariant(m_session.className(r.classId)) : QVariant();
    case SplitRole:
        return QString::fromStdString(r.split);
    default:
        return {};
    }
}

void CatalogueModel::setFilter(const BrowserFilter& filter)
{
    m_filter = filter;
    rebuild();
}

void CatalogueModel::setSort(BrowserSort sort)
{
    m_sort = sort;
    rebuild();
}

int CatalogueModel::rowOfImage(int64_t imageId) const
{
    const int s = m_session.rowOf(imageId);
    return s < 0 || s >= static_cast<int>(m_viewRowOf.size()) ? -1 : m_viewRowOf[s];
}

int64_t CatalogueModel::imageIdAt(int row) const
{
    return row >= 0 && row < rowCount() ? m_session.rows()[m_visible[row]].imageId : -1;
}

void CatalogueModel::rebuild()
{
    beginResetModel();
    const auto& rows = m_session.rows();
    const std::string split = m_filter.split.toStdString();
    const std::string modality = m_filter.modality.toStdString();
    const std::string patient = m_filter.patientId.toStdString();
    const QString search = m_filter.search.trimmed();
    m_visible.clear();
    m_visible.reserve(rows.size());
    for (int i = 0; i < static_cast<int>(rows.size()); ++i) {
        const core::CatalogueRow& r = rows[i];
        if (m_filter.classId == BrowserFilter::kUnlabeled && r.classId > 0)
            continue;
        if (m_filter.classId > 0 && r.classId != m_filter.classId)
            continue;
        if (!split.empty() && (split == "none" ? !r.split.empty() : r.split != split))
            continue;
        if (!modality.empty() && r.modality != modality)
            continue;
        if (!patient.empty() && r.patientId != patient)
            continue;
        if (!search.isEmpty() && !QString::fromStdString(r.relativePath).contains(search, Qt::CaseInsensitive) &&
            !QString::fromStdString(r.patientId).contains(search, Qt::CaseInsensitive))
            continue;
        if (m_filter.predicted >= 0) {
            const auto* p = m_session.predictionOf(r.imageId);
            if (!p || p->predicted != m_filter.predicted)
                continue;
        }
        m_visible.push_back(i);
    }
    auto byKey = [&](auto key) {
        std::stable_sort(m_visible.begin(), m_visible.end(), [&](int a, int b) { return key(rows[a]) < key(rows[b]); });
    };
    switch (m_sort) {
    case BrowserSort::ImportOrder:
        break;
    case BrowserSort::FileName:
        byKey([](const core::CatalogueRow& r) { return std::make_pair(r.relativePath.substr(r.relativePath.rfind('/') + 1), r.frameIndex); });
        break;
    case BrowserSort::Patient:
        byKey([](const core::CatalogueRow& r) { return std::make_pair(r.patientId, r.imageId); });
        break;
    case BrowserSort::Class: {
        std::unordered_map<int64_t, int> position;
        for (size_t c = 0; c < m_session.classes().size(); ++c)
            position[m_session.classes()[c].id] = static_cast<int>(c);
        byKey([&](const core::CatalogueRow& r) {
            // unlabeled last
            return std::make_pair(r.classId > 0 ? position[r.classId] : 1 << 30, r.imageId);
        });
        break;
    }
    case BrowserSort::LeastCertain:
        byKey([&](const core::CatalogueRow& r) {
            const auto* p = m_session.predictionOf(r.imageId);
            return std::make_pair(p ? p->margin : 2.0f, r.imageId); // without a prediction: last
        });
        break;
    }
    m_viewRowOf.assign(rows.size(), -1);
    for (int v = 0; v < static_cast<int>(m_visible.size()); ++v)
        m_viewRowOf[m_visible[v]] = v;
    endResetModel();
}

void CatalogueModel::onLabelsChanged(const QVector<qint64>& ids)
{
    if (ids.size() > 256) { // one signal for a bulk edit, not one per image
        if (!m_visible.empty())
            Q_EMIT dataChanged(index(0), index(rowCount() - 1));
        return;
    }
    for (qint64 id : ids) {
        const int row = rowOfImage(id);
        if (row >= 0)
            Q_EMIT dataChanged(index(row), index(row));
    }
}

void CatalogueModel::onThumbnailReady(qint64 imageId)
{
    const int row = rowOfImage(imageId);
    if (row >= 0)
        Q_EMIT dataChanged(index(row), index(row), {Qt::DecorationRole, ThumbnailStateRole});
}

} // namespace medsiam::ui
