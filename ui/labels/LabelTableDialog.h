#pragma once
#include <QDialog>

namespace medsiam::ui {

class LabelTableBox;
class ProjectSession;

/// Labels (and splits) the project's images from a CSV: the table's mapping and a preview of
/// its keys against the project, then one transaction. The result, with keys that matched
/// nothing and rows with problems, is reported in words.
class LabelTableDialog : public QDialog {
    Q_OBJECT
public:
    explicit LabelTableDialog(ProjectSession& session, QWidget* parent = nullptr);
    LabelTableBox* table() const { return m_table; }
    /// Applies the table; on success the dialog closes and resultText() says what it did.
    void accept() override;
    QString resultText() const { return m_result; }

private:
    ProjectSession& m_session;
    LabelTableBox* m_table;
    QString m_result;
};

} // namespace medsiam::ui
