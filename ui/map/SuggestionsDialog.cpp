#include "map/SuggestionsDialog.h"

#include "common/Count.h"
#include "util/Error.h"

#include "project/Project.h"
#include "project/ProjectSession.h"

#include <QMessageBox>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QLabel>
#include <QPushButton>
#include <QUndoStack>
#include <QVBoxLayout>

#include <map>

namespace medsiam::ui {

SuggestionsDialog::SuggestionsDialog(ProjectSession& session, std::vector<core::LabelSuggestion> suggestions,
                                     const core::SuggestionCheck& check, QWidget* parent)
    : QDialog(parent), m_session(session), m_suggestions(std::move(suggestions))
{
    setWindowTitle(tr("Label Suggestions"));
    QString text = tr("%1 a suggested class: the class of their labeled nearest neighbours in this "
                      "run's embedding space.")
                       .arg(m_suggestions.size() == 1 ? tr("1 unlabeled image has")
                                                      : tr("%1 unlabeled images have").arg(m_suggestions.size()));
    if (check.heldBack > 0)
        text += QLatin1Char(' ') + tr("Checked on %1 held back: %2% right, against %3% for always guessing the most "
                                      "common class.")
                                       .arg(countOf(check.heldBack, tr("labeled image"), tr("labeled images")))
                                       .arg(100 * check.accuracy, 0, 'f', 1)
                                       .arg(100 * check.majorityAccuracy, 0, 'f', 1);
    if (check.heldBack > 0 && check.accuracy <= check.majorityAccuracy)
        text += QLatin1Char(' ') + tr("The suggestions do no better than that guess here: review them before accepting any.");
    m_summary = new QLabel(text, this);
    m_summary->setWordWrap(true);
    m_threshold = new QDoubleSpinBox(this);
    m_threshold->setRange(0, 1);
    m_threshold->setSingleStep(0.05);
    m_threshold->setDecimals(2);
    m_threshold->setValue(0.9);
    m_threshold->setToolTip(tr("A suggestion's confidence is its class's share of the neighbours' weighted votes"));
    m_chosen = new QLabel(this);
    m_chosen->setWordWrap(true);
    auto* form = new QFormLayout;
    form->addRow(tr("Confidence at least:"), m_threshold);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
    m_apply = buttons->addButton(tr("Accept These Labels"), QDialogButtonBox::ActionRole);
    m_select = buttons->addButton(tr("Select on Map"), QDialogButtonBox::ActionRole);
    m_select->setToolTip(tr("Select these images on the map to review them; class keys label a selection"));
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(m_apply, &QPushButton::clicked, this, &SuggestionsDialog::applyChosen);
    connect(m_select, &QPushButton::clicked, this, &SuggestionsDialog::selectChosen);
    connect(m_threshold, &QDoubleSpinBox::valueChanged, this, &SuggestionsDialog::updateChosen);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(m_summary);
    layout->addLayout(form);
    layout->addWidget(m_chosen);
    layout->addWidget(buttons);
    resize(520, sizeHint().height());
    updateChosen();
}

QVector<qint64> SuggestionsDialog::chosenImages() const
{
    QVector<qint64> out;
    for (const auto& s : m_suggestions)
        if (s.confidence >= m_threshold->value())
            out.push_back(s.imageId);
    return out;
}

QString SuggestionsDialog::summaryText() const { return m_summary->text(); }

QString SuggestionsDialog::chosenText() const { return m_chosen->text(); }

void SuggestionsDialog::updateChosen()
{
    std::map<int, int> byClass;
    int n = 0;
    for (const auto& s : m_suggestions)
        if (s.confidence >= m_threshold->value()) {
            ++byClass[s.classIndex];
            ++n;
        }
    QStringList parts;
    const auto& classes = m_session.classes();
    for (const auto& [c, count] : byClass)
        parts << tr("%1 %2").arg(count).arg(c >= 0 && c < static_cast<int>(classes.size()) ? QString::fromStdString(classes[static_cast<size_t>(c)].name)
                                                                                              : tr("class %1").arg(c));
    m_chosen->setText(n == 0 ? tr("No suggestion reaches this confidence.")
                             : tr("%1 at or above it: %2.").arg(countOf(n, tr("image"), tr("images")), parts.join(QStringLiteral(", "))));
    m_apply->setEnabled(n > 0);
    m_select->setEnabled(n > 0);
}

void SuggestionsDialog::applyChosen()
{
    std::map<int, QVector<qint64>> byClass;
    for (const auto& s : m_suggestions)
        if (s.confidence >= m_threshold->value())
            byClass[s.classIndex].push_back(s.imageId);
    const auto& classes = m_session.classes();
    int n = 0;
    for (const auto& [c, ids] : byClass)
        n += ids.size();
    m_session.undoStack()->beginMacro(tr("Accept %1").arg(countOf(n, tr("label suggestion"), tr("label suggestions"))));
    try {
        for (const auto& [c, ids] : byClass)
            if (c >= 0 && c < static_cast<int>(classes.size()))
                m_session.labelImages(ids, classes[static_cast<size_t>(c)].id);
    } catch (const core::UserError& e) {
        // The classes labeled before the failure stay, as one undoable step.
        m_session.undoStack()->endMacro();
        QMessageBox::warning(this, tr("Cannot save the labels"), QString::fromStdString(e.what()));
        return;
    }
    m_session.undoStack()->endMacro();
    done(Applied);
}

void SuggestionsDialog::selectChosen() { done(SelectOnMap); }

} // namespace medsiam::ui
