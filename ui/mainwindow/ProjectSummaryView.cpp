#include "mainwindow/ProjectSummaryView.h"

#include "project/Project.h"

#include <QLabel>
#include <QVBoxLayout>

namespace medsiam::ui {

namespace {
QString countsLine(const std::vector<std::pair<std::string, int64_t>>& counts)
{
    QStringList parts;
    for (const auto& [name, n] : counts)
        parts << QStringLiteral("%1 %2").arg(QString::fromStdString(name).toHtmlEscaped()).arg(n);
    return parts.isEmpty() ? QStringLiteral("-") : parts.join(QStringLiteral(", "));
}
} // namespace

ProjectSummaryView::ProjectSummaryView(QWidget* parent) : QWidget(parent), m_text(new QLabel(this))
{
    m_text->setTextFormat(Qt::RichText);
    m_text->setAlignment(Qt::AlignTop | Qt::AlignLeft);
    m_text->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_text->setWordWrap(true);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(m_text);
    showPlaceholder();
}

void ProjectSummaryView::showPlaceholder()
{
    m_text->setText(tr("<h2>medsiam</h2><p>Create a project with <b>File &gt; New Project</b> or open one with "
                       "<b>File &gt; Open Project</b>.</p><p>Drop a folder of DICOM, NIfTI/MHA/NRRD or plain images "
                       "on this window to import it.</p>"));
}

void ProjectSummaryView::showSummary(const core::ProjectSummary& s)
{
    QString html = QStringLiteral("<h2>%1</h2><table cellspacing='6'>").arg(QString::fromStdString(s.path).toHtmlEscaped());
    auto row = [&](const QString& k, const QString& v) { html += QStringLiteral("<tr><td><b>%1</b></td><td>%2</td></tr>").arg(k, v); };
    row(tr("Images"), tr("%1 items from %2 files, %3 patients, %4 labeled").arg(s.images).arg(s.sourceFiles).arg(s.patients).arg(s.labeled));
    row(tr("Cache"), tr("%1 x %1 px").arg(s.cacheResolution));
    row(tr("Formats"), countsLine(s.byFormat));
    row(tr("Modalities"), countsLine(s.byModality));
    row(tr("Classes"), countsLine(s.byClass));
    row(tr("Splits"), countsLine(s.bySplit));
    row(tr("Not imported"), QString::number(s.issues));
    html += QStringLiteral("</table>");
    m_text->setText(html);
}

} // namespace medsiam::ui
