#pragma once
#include <QWidget>

#include <cstdint>
#include <memory>

class QComboBox;
class QLabel;
class QLineEdit;
class QListView;
class QTimer;

namespace medsiam::ui {

class CatalogueModel;
struct BrowserFilter;
enum class BrowserSort;
class ProjectSession;
class ThumbnailLoader;

/// The thumbnail grid with its filter bar (class, split, modality, patient, search) and sort.
/// Thumbnails come from the project's cache through a ThumbnailLoader; only the rows on screen
/// plus one screenful ahead are requested, so scrolling costs nothing for rows passed over.
class BrowserView : public QWidget {
    Q_OBJECT
public:
    /// `thumbnails` may be given (tests count its decodes); by default thumbnails are cut from
    /// the session's cache.
    explicit BrowserView(ProjectSession& session, QWidget* parent = nullptr, ThumbnailLoader* thumbnails = nullptr);
    ~BrowserView() override;

    QListView* listView() const { return m_list; }
    CatalogueModel* model() const { return m_model; }
    ThumbnailLoader* thumbnails() const { return m_thumbnails; }
    /// The selected images in view order, or the current one when nothing is selected.
    QVector<qint64> selectedImageIds() const;
    int64_t currentImageId() const;
    /// Makes an image current (and selected), scrolling to it; false when it is filtered out.
    bool showImage(int64_t imageId);
    /// Sorts the grid (the sort box follows).
    void setSort(BrowserSort sort);
    /// Shows the filter in the filter bar and applies it.
    void setFilter(const BrowserFilter& filter);
    /// Thumbnail rows requested per screenful beyond the visible ones.
    int prefetchRows() const { return m_prefetchRows; }

Q_SIGNALS:
    void currentImageChanged(qint64 imageId);
    void selectionCountChanged(int count);

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    void buildFilterBar();
    QString classChoiceText(qint64 classId) const;
    void updateClassCounts();
    void refillClassChoices();
    void refillFilterChoices();
    void refillPredictedChoices();
    void applyFilter();
    void scheduleThumbnails();
    void requestVisibleThumbnails();
    ProjectSession& m_session;
    ThumbnailLoader* m_thumbnails;
    std::unique_ptr<ThumbnailLoader> m_ownThumbnails;
    CatalogueModel* m_model;
    QListView* m_list;
    QComboBox* m_class;
    QComboBox* m_split;
    QComboBox* m_modality;
    QComboBox* m_patient;
    QComboBox* m_sort;
    QComboBox* m_predicted;
    QLineEdit* m_search;
    QLabel* m_count;
    QTimer* m_thumbTimer;
    int m_prefetchRows = 2;
    int64_t m_keepCurrent = -1;
    QVector<qint64> m_keepSelection;
};

} // namespace medsiam::ui
