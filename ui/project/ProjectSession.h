#pragma once
#include <QColor>
#include <QObject>
#include <QString>
#include <QVector>

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

class QUndoStack;

namespace medsiam::core {
class Project;
class ImageCache;
struct CatalogueRow;
struct ClassInfo;
} // namespace medsiam::core

namespace medsiam::ui {

/// A classifier's prediction of one image, as the browser shows it.
struct ShownPrediction {
    int predicted = -1;     ///< class index (into classes())
    float confidence = 0;   ///< the predicted class's probability
    float margin = 0;       ///< top probability minus the second
};

/// The open project as the GUI sees it: the catalogue rows, the class schema, label counts and
/// the undo stack of label edits. It lives on the GUI thread and owns that thread's
/// core::Project. Every label edit is committed to project.sqlite before the signal goes out,
/// so a crash loses nothing the user saw.
class ProjectSession : public QObject {
    Q_OBJECT
public:
    /// Opens an existing project or creates one; throws core::UserError in plain words
    /// (core::ProjectBusyError when another program is writing to it, core::DamagedProjectError
    /// when its catalogue is damaged). Read-only, nothing can be labeled, imported or trained.
    static std::unique_ptr<ProjectSession> open(const QString& dir, bool readOnly = false);
    static std::unique_ptr<ProjectSession> create(const QString& dir, int cacheResolution);
    ~ProjectSession() override;

    QString dir() const;
    core::Project& project() { return *m_project; }
    /// Opened read-only because another program writes to the project.
    bool readOnly() const;
    int cacheResolution() const { return m_cacheResolution; }
    /// The cache at the project's resolution, or null while the project has no images.
    std::shared_ptr<const core::ImageCache> cache() const { return m_cache; }

    const std::vector<core::CatalogueRow>& rows() const { return m_rows; }
    /// Index in rows() of an image id, or -1.
    int rowOf(int64_t imageId) const;
    const std::vector<core::ClassInfo>& classes() const { return m_classes; }
    /// The class with this id, or null.
    const core::ClassInfo* classById(int64_t classId) const;
    /// The class whose shortcut is `key` ("0".."9"), or null.
    const core::ClassInfo* classForShortcut(const QString& key) const;
    QColor classColor(int64_t classId) const;
    QString className(int64_t classId) const;
    int64_t labeledCount(int64_t classId) const;
    int64_t unlabeledCount() const;

    QUndoStack* undoStack() const { return m_undo; }

    /// Shows a classifier run's stored predictions in the browser (an empty id shows none).
    /// Predictions whose class count no longer matches the classes are left out.
    void showPredictions(const QString& runId);
    /// The run whose predictions are shown ("" none).
    QString predictionsRun() const { return m_predictionsRun; }
    /// The shown prediction of an image, or null.
    const ShownPrediction* predictionOf(int64_t imageId) const;
    bool hasPredictions() const { return !m_predictions.empty(); }

    /// Labels images with a class (classId <= 0 clears), as one undoable step. Throws
    /// core::UserError when the label cannot be saved (read-only, a full disk); nothing changes then.
    void labelImages(const QVector<qint64>& imageIds, int64_t classId);
    /// Writes labels (classId <= 0 clears) without touching the undo stack: the undo commands'
    /// work. Commits at once; emits labelsChanged.
    void writeLabels(const std::vector<std::pair<int64_t, int64_t>>& labels);

    /// Creates a class (a free colour and a key by core::assignDefaultKeys) and returns its id.
    int64_t addClass(const QString& name);
    void updateClass(const core::ClassInfo& info);
    void removeClass(int64_t classId);

    /// Re-reads the catalogue, the classes and the cache (after an import, a split or a CSV).
    void reload();

Q_SIGNALS:
    void labelsChanged(const QVector<qint64>& imageIds);
    void classesChanged();
    void catalogueReloaded();
    /// Other predictions are shown (showPredictions).
    void predictionsChanged();

private:
    explicit ProjectSession(std::unique_ptr<core::Project> project);
    void reloadClasses();
    void recountLabels();
    std::unique_ptr<core::Project> m_project;
    std::shared_ptr<const core::ImageCache> m_cache;
    int m_cacheResolution = 0;
    std::vector<core::CatalogueRow> m_rows;
    std::unordered_map<int64_t, int> m_rowById;
    std::vector<core::ClassInfo> m_classes;
    std::unordered_map<int64_t, int64_t> m_counts;
    QUndoStack* m_undo;
    QString m_predictionsRun;
    std::unordered_map<int64_t, ShownPrediction> m_predictions;
};

/// A colour for the i-th class, from a palette that stays readable on dark and light grounds.
QColor defaultClassColor(int index);

} // namespace medsiam::ui
