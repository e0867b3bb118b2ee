#pragma once
#include <QWidget>

#include <cstdint>
#include <optional>

class QComboBox;
class QLabel;
class QSlider;
class QTableWidget;
class QLineEdit;

namespace medsiam::ui {

class ImageView;
class ProjectSession;

/// The viewer: the current image decoded from its source file (not the cache) by core on a
/// worker thread, with window presets, reset, fit, and a frame/slice slider for multi-frame
/// files and volumes.
class ViewerPanel : public QWidget {
    Q_OBJECT
public:
    explicit ViewerPanel(ProjectSession& session, QWidget* parent = nullptr);
    ~ViewerPanel() override;

    /// Shows an image of the catalogue (decoded in the background); -1 clears.
    void showImage(int64_t imageId);
    ImageView* view() const { return m_view; }
    QSlider* frameSlider() const { return m_frame; }
    /// The pixel readout under the image ("x 12  y 40  value 93"; empty off the image).
    QLabel* readout() const { return m_info; }
    /// True while a decode is running (tests wait on it).
    bool loading() const;

Q_SIGNALS:
    /// The file shown changed: the tag panel follows it.
    void sourceChanged(const QString& path);
    void statusMessage(const QString& text);
    void loaded();

private:
    void decode(const QString& path, int frame, int sliceAxis, bool keepWindow);
    void applyPreset(int index);
    ProjectSession& m_session;
    ImageView* m_view;
    QComboBox* m_presets;
    QSlider* m_frame;
    QLabel* m_frameLabel;
    QLabel* m_info;
    QString m_path;
    int m_sliceAxis = -1;
    int m_generation = 0;
    int m_running = 0;
    /// The latest request made while a decode was running; started when it ends (holding an
    /// arrow key over large files decodes what is shown, not every image passed).
    struct Request {
        QString path;
        int frame = 0;
        int sliceAxis = -1;
        bool keepWindow = false;
    };
    std::optional<Request> m_pending;
};

/// A file's attributes (DICOM tags, or the facts of other formats), read on a worker thread,
/// with a filter box.
class TagsPanel : public QWidget {
    Q_OBJECT
public:
    explicit TagsPanel(QWidget* parent = nullptr);
    void showFile(const QString& path);
    QTableWidget* table() const { return m_table; }
    bool loading() const { return m_running > 0; }

Q_SIGNALS:
    void loaded();

private:
    void applyFilter();
    QLineEdit* m_filter;
    QTableWidget* m_table;
    QLabel* m_status;
    QString m_path;
    int m_generation = 0;
    int m_running = 0;
};

} // namespace medsiam::ui
