#pragma once
#include <QGroupBox>

#include <optional>
#include <string>
#include <vector>

class QComboBox;
class QLabel;
class QLineEdit;
class QTableWidget;

namespace medsiam::core {
class Project;
struct LabelCsvOptions;
} // namespace medsiam::core

namespace medsiam::ui {

/// A label table (CSV) and its mapping: the file, which columns hold the key, the label and the
/// split (likely ones picked by name), how keys name images, and a preview of the keys that
/// match and those that do not. Used by the import dialog (keys checked against the files about
/// to be imported) and by the label table dialog (against the project's images).
class LabelTableBox : public QGroupBox {
    Q_OBJECT
public:
    LabelTableBox(const QString& title, core::Project& project, QWidget* parent = nullptr);
    ~LabelTableBox() override;

    /// Folders and files whose paths the preview matches keys against, besides the project.
    void setSources(const std::vector<std::string>& sources);
    /// The mapping, or nullopt when no table is given.
    std::optional<core::LabelCsvOptions> options() const;
    /// Re-reads the columns of the file named and refreshes the preview.
    void reloadColumns();
    void updatePreview();

    QLineEdit* pathEdit() const { return m_path; }
    QComboBox* keyColumnBox() const { return m_keyColumn; }
    QComboBox* labelColumnBox() const { return m_labelColumn; }
    QComboBox* splitColumnBox() const { return m_splitColumn; }
    QTableWidget* previewTable() const { return m_preview; }
    QLabel* summaryLabel() const { return m_summary; }

private:
    core::Project& m_project;
    std::vector<std::string> m_sources;
    QLineEdit* m_path;
    QComboBox* m_keyColumn;
    QComboBox* m_labelColumn;
    QComboBox* m_splitColumn;
    QComboBox* m_keyKind;
    QTableWidget* m_preview;
    QLabel* m_summary;
};

} // namespace medsiam::ui
