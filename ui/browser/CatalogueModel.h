#pragma once
#include <QAbstractListModel>
#include <QString>

#include <cstdint>
#include <vector>

namespace medsiam::ui {

class ProjectSession;
class ThumbnailLoader;

/// What the browser shows: every filter narrows the list.
struct BrowserFilter {
    static constexpr int64_t kAnyClass = -2;
    static constexpr int64_t kUnlabeled = -1;
    int64_t classId = kAnyClass; ///< a class id, kUnlabeled or kAnyClass
    QString split;               ///< "", "train", "val", "test" or "none"
    QString modality;            ///< "" for any
    QString patientId;           ///< exact patient id, "" for any
    QString search;              ///< case-insensitive substring of the file path or patient id
    int predicted = -1;          ///< a class index the shown predictions must name; -1 for any
};

/// LeastCertain: the images with a shown prediction by margin, smallest first, then the others.
enum class BrowserSort { ImportOrder, FileName, Patient, Class, LeastCertain };

/// The project's images as a flat list model for the thumbnail grid: filtered and sorted
/// views of ProjectSession::rows(), with thumbnails from a ThumbnailLoader. Label edits update
/// the affected rows in place; a filter that no longer matches an edited row keeps it visible
/// until the filter changes, so that labeling never makes the grid jump.
class CatalogueModel : public QAbstractListModel {
    Q_OBJECT
public:
    enum Role {
        ImageIdRole = Qt::UserRole + 1,
        ClassIdRole,
        ClassColorRole,
        ClassNameRole,
        SplitRole,
        ThumbnailStateRole, ///< 0 not loaded, 1 ready, 2 cannot be shown
        PredictionRole,     ///< "pneumonia 0.83" when predictions are shown, else invalid
    };

    CatalogueModel(ProjectSession& session, ThumbnailLoader& thumbnails, QObject* parent = nullptr);

    int rowCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;

    void setFilter(const BrowserFilter& filter);
    const BrowserFilter& filter() const { return m_filter; }
    void setSort(BrowserSort sort);
    /// Row of an image in the current view, or -1 when filtered out.
    int rowOfImage(int64_t imageId) const;
    int64_t imageIdAt(int row) const;
    /// Index into ProjectSession::rows() of a view row.
    int sessionRow(int row) const { return m_visible[row]; }

private:
    void rebuild();
    void onLabelsChanged(const QVector<qint64>& ids);
    void onThumbnailReady(qint64 imageId);
    ProjectSession& m_session;
    ThumbnailLoader& m_thumbnails;
    BrowserFilter m_filter;
    BrowserSort m_sort = BrowserSort::ImportOrder;
    std::vector<int> m_visible;     // session rows in view order
    std::vector<int> m_viewRowOf;   // session row -> view row, or -1
};

} // namespace medsiam::ui
