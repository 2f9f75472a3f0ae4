from django.contrib import admin
from django.template.response import TemplateResponse

from recommendations.evaluation.page import report_page_context
from recommendations.models import EvaluationReport


@admin.register(EvaluationReport)
class EvaluationReportAdmin(admin.ModelAdmin):
    """Reports are written by `manage.py evaluate`; the admin only shows them, as tables and charts."""

    list_display = ("__str__", "window", "shoppers", "hybrid_map", "popular_map")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Test weeks")
    def window(self, report: EvaluationReport) -> str:
        split = report.data["time_split"]
        return f"{split['cutoff'][:10]} to {split['until'][:10]}"

    @admin.display(description="Shoppers")
    def shoppers(self, report: EvaluationReport) -> int:
        return report.data["time_split"]["shoppers"]

    @admin.display(description="Hybrid MAP@K")
    def hybrid_map(self, report: EvaluationReport) -> str:
        return f"{report.data['time_split']['results']['all']['hybrid']['map']['mean']:.4f}"

    @admin.display(description="Most popular MAP@K")
    def popular_map(self, report: EvaluationReport) -> str:
        return f"{report.data['time_split']['results']['all']['popular']['map']['mean']:.4f}"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        report = self.get_object(request, object_id)
        if report is None or not self.has_view_permission(request, report):
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": report,
            "title": str(report),
            **report_page_context(report.data),
        }
        return TemplateResponse(request, "admin/recommendations/evaluation_report.html", context)
