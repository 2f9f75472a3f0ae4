from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join

from catalog.admin import ProductAdmin
from catalog.models import Product
from catalog.services import product_primary_image_changed
from recommendations.evaluation.page import report_page_context
from recommendations.models import EmbeddingStatus, EvaluationReport, RankerModel


class EmbeddingStatusFilter(admin.SimpleListFilter):
    title = "embedding"
    parameter_name = "embedding_status"

    def lookups(self, request, model_admin):
        return EmbeddingStatus.choices

    def queryset(self, request, queryset):
        return queryset.filter(embedding__status=self.value()) if self.value() else queryset


class ProductWithEmbeddingAdmin(ProductAdmin):
    """The catalog's product admin, plus what the recommender derives from the photos: each
    product's embedding state, a filter, a re-embed action and the progress bar over the list.
    The catalog's admin knows nothing of embeddings; the recommender extends it."""

    list_display = [*ProductAdmin.list_display, "embedding_state"]
    list_filter = [*ProductAdmin.list_filter, EmbeddingStatusFilter]
    actions = ["re_embed"]

    class Media:
        css = {"all": ["catalog/admin.css", "recommendations/admin.css"]}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Product]:
        return super().get_queryset(request).select_related("embedding").defer("embedding__vector")

    @admin.display(description="Embedding", ordering="embedding__status")
    def embedding_state(self, product: Product) -> str:
        embedding = getattr(product, "embedding", None)
        status = embedding.status if embedding else EmbeddingStatus.PENDING
        title = (embedding.error or embedding.model) if embedding else ""
        label = EmbeddingStatus(status).label
        return format_html('<span class="embedding-{}" title="{}">{}</span>', status, title, label)

    @admin.action(description="Re-embed the selected products' photos")
    def re_embed(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        product_primary_image_changed(product_ids=ids)
        self.message_user(request, f"Queued {len(ids)} products for embedding.", messages.SUCCESS)

    def changelist_view(self, request, extra_context=None):
        counts = Product.objects.filter(is_active=True).aggregate(
            total=Count("pk"),
            **{status: Count("pk", filter=Q(embedding__status=status)) for status in EmbeddingStatus.values},
        )
        counts["pending"] = counts["total"] - counts["done"] - counts["failed"]  # no row yet counts as pending
        percent = round(100 * counts["done"] / counts["total"]) if counts["total"] else 0
        extra_context = {**(extra_context or {}), "embedding_counts": counts, "embedding_percent": percent}
        return super().changelist_view(request, extra_context=extra_context)


admin.site.unregister(Product)
admin.site.register(Product, ProductWithEmbeddingAdmin)


@admin.register(RankerModel)
class RankerModelAdmin(admin.ModelAdmin):
    """The learned ranker's versions, written by `train_ranker` and its beat task: staff see which one
    serves and how it validated; deleting the active one hands the homepage back to the blend."""

    list_display = (
        "__str__", "is_active", "trained_until", "validation_map", "sources_order_map", "what_serves",
        "after_a_click", "seconds",
    )  # fmt: skip
    # The figures as tables: which order serves and why, then the validation of both models.
    fields = ("trained_at", "trained_until", "is_active", "serving", "validation_table", "training")
    readonly_fields = fields

    @admin.display(description="What serves")
    def what_serves(self, model: RankerModel) -> str:
        return self._serving(model)[0]

    @admin.display(description="What serves, and why")
    def serving(self, model: RankerModel) -> str:
        home, clicks = self._serving(model)
        return f"Recommended for you: {home}. After a click: {clicks}."

    @staticmethod
    def _serving(model: RankerModel) -> tuple[str, str]:
        validation, click = model.figures.get("validation"), model.figures.get("clicks", {})
        if not validation:
            home = "the sources' own order (no validation fold: too little history to test the model on)"
        elif validation["map"] > validation["sources_order_map"]:
            home = "the model (it validated better than the sources' own order)"
        else:
            home = "the sources' own order (the model validated no better)"
        clicks = "the model (it beat the heuristic)" if click.get("serves") else "the heuristic"
        return home, clicks

    @admin.display(description="Validation (MAP@12 and recall@12 on the newest fold's shoppers)")
    def validation_table(self, model: RankerModel):
        rows = []
        validation = model.figures.get("validation")
        if validation:
            rows.append((f"Recommended for you, {validation['shoppers']:,} shoppers of {validation['cutoff'][:10]}",
                         "the model", validation["map"], validation["recall"]))  # fmt: skip
            rows.append(("", "the sources' own order", validation["sources_order_map"],
                         validation["sources_order_recall"]))  # fmt: skip
        click = model.figures.get("clicks", {}).get("validation")
        if click:
            rows.append(("After a click", "the model", click["map"], click.get("recall")))
            rows.append(("", "the heuristic", click["heuristic_map"], click.get("heuristic_recall")))
        if not rows:
            return "No validation fold."
        return format_html(
            "<table><thead><tr><th>List</th><th>Order</th><th>MAP@12</th><th>Recall@12</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                             ((a, b, f"{m:.4f}", "-" if r is None else f"{r:.4f}") for a, b, m, r in rows)),
        )  # fmt: skip

    @admin.display(description="Training")
    def training(self, model: RankerModel):
        figures = model.figures
        facts = [("Trained in (s)", figures.get("seconds", "-")), ("Label days", figures.get("label_days", "-")),
                 ("Candidate rows", figures.get("rows", "-")), ("Shoppers", figures.get("shoppers", "-")),
                 ("Folds", ", ".join(day[:10] for day in figures.get("folds", [])) or "-"),
                 ("Features", len(model.features))]  # fmt: skip
        top = sorted(model.importances.items(), key=lambda item: -item[1])[:10]
        return format_html(
            "<table><tbody>{}</tbody></table><p>Most important features:</p><table><tbody>{}</tbody></table>",
            format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", facts),
            format_html_join("", "<tr><td>{}</td><td>{}</td></tr>", ((n, f"{v:.1%}") for n, v in top)),
        )

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Validation MAP@12")
    def validation_map(self, model: RankerModel) -> str:
        validation = model.figures.get("validation")
        return f"{validation['map']:.4f}" if validation else "-"

    @admin.display(description="Sources' own order MAP@12")
    def sources_order_map(self, model: RankerModel) -> str:
        validation = model.figures.get("validation")
        return f"{validation['sources_order_map']:.4f}" if validation else "-"

    @admin.display(description="After a click: MAP@12 (heuristic)")
    def after_a_click(self, model: RankerModel) -> str:
        validation = model.figures.get("clicks", {}).get("validation")
        if not validation:
            return "-"
        serving = "serves" if model.figures["clicks"].get("serves") else "the heuristic serves"
        return f"{validation['map']:.4f} ({validation['heuristic_map']:.4f}), {serving}"

    @admin.display(description="Training (s)")
    def seconds(self, model: RankerModel) -> str:
        return str(model.figures.get("seconds", "-"))


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
