#pragma once
#include <QDialog>

class QLineEdit;
class QSpinBox;

namespace medsiam::ui {

/// Asks where a new project goes (an empty or new folder) and its cache resolution.
class NewProjectDialog : public QDialog {
    Q_OBJECT
public:
    explicit NewProjectDialog(QWidget* parent = nullptr);
    QString folder() const;
    int cacheResolution() const;
    void accept() override;

private:
    QLineEdit* m_folder;
    QSpinBox* m_resolution;
};

} // namespace medsiam::ui
