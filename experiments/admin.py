from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Sum
from django.forms.models import BaseInlineFormSet
from django.utils import timezone

from experiments.models import Arm, Experiment, SourceDay
from experiments.selectors.assignment import forget_running
from experiments.selectors.charts import line_chart
from experiments.selectors.results import (
    allocation_over_time,
    daily_conversion,
    experiment_results,
    shoppers_needed,
)
from experiments.services.rollup import experiment_rollup


class ArmFormSet(BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        arms = [form.cleaned_data for form in self.forms if form.cleaned_data and not form.cleaned_data.get("DELETE")]
        if len(arms) < 2:
            raise ValidationError("An experiment needs at least two arms.")
        if sum(arm["share"] for arm in arms) != 100:
            raise ValidationError("The arms' shares must add up to 100.")
        if sum(bool(arm.get("is_control")) for arm in arms) != 1:
            raise ValidationError("Mark exactly one arm as the control.")


class ArmInline(admin.TabularInline):
    """Arms are fixed once the experiment has started: a new share would move shoppers between arms
    (assignment cuts one hash by the shares) and the sample-ratio check would compare against it."""

    model = Arm
    formset = ArmFormSet
    extra = 2

    @staticmethod
    def _started(obj) -> bool:
        return obj is not None and obj.starts_at is not None and obj.starts_at <= timezone.now()

    def has_add_permission(self, request, obj=None) -> bool:
        return not self._started(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return not self._started(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return not self._started(obj) and super().has_delete_permission(request, obj)


class ExperimentForm(forms.ModelForm):
    surfaces = forms.MultipleChoiceField(
        choices=Experiment._meta.get_field("surfaces").base_field.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = Experiment
        fields = ["name", "surfaces", "starts_at", "ends_at", "is_enabled", "autopilot", "autopilot_metric",
                  "control_share"]  # fmt: skip


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    form = ExperimentForm
    inlines = [ArmInline]
    list_display = ["name", "starts_at", "ends_at", "is_enabled", "autopilot"]
    readonly_fields = ["allocation", "concluded"]
    actions = ["roll_up_now"]
    change_form_template = "admin/experiments/experiment/change_form.html"

    def get_readonly_fields(self, request, obj=None):
        # Switching the autopilot off after the start would cut the hash by the planned shares again and
        # move shoppers between arms; its metric and control share define what was tested.
        if ArmInline._started(obj):
            return [*self.readonly_fields, "autopilot", "autopilot_metric", "control_share"]
        return self.readonly_fields

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        forget_running()  # this process at once; the others within EXPERIMENTS_CACHE_S

    @admin.action(description="Roll up the results now (they are rolled up every few minutes anyway)")
    def roll_up_now(self, request, queryset) -> None:
        shoppers = sum(experiment_rollup(experiment) for experiment in queryset)
        self.message_user(request, f"Rolled up {queryset.count()} experiment(s), {shoppers:,} shoppers.", messages.INFO)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        experiment = self.get_object(request, object_id)
        if experiment is not None and experiment.arms.exists():
            results = experiment_results(experiment)
            control = next((arm for arm in results.arms if arm.is_control), None)
            base = control.conversion.value if control is not None else 0.0
            planner = [(f"{lift:.0%}", shoppers_needed(base, lift)) for lift in (0.05, 0.10, 0.20)]
            extra_context = {
                **(extra_context or {}), "results": results, "planner": planner, "base_rate": base,
                "daily_chart": line_chart(daily_conversion(experiment), x_label="day of the experiment",
                                          y_label="conversion so far"),
                "allocation_chart": line_chart(allocation_over_time(experiment), x_label="shoppers seen",
                                               y_label="share of new shoppers (%)", y_format="{:.0f}"),
            }  # fmt: skip
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(SourceDay)
class SourceDayAdmin(admin.ModelAdmin):
    """The standing dashboard: what each surface, row and candidate source showed and earned, per day,
    in or out of experiments. Read-only: the roll-up writes it."""

    list_display = ["day", "surface", "row", "source", "arm", "cards_shown", "clicks", "click_through",
                    "add_to_carts", "purchases", "revenue", "influenced_purchases"]  # fmt: skip
    list_filter = ["surface", "row", "source", "experiment_id"]
    date_hierarchy = "day"
    change_list_template = "admin/experiments/sourceday/change_list.html"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Click-through")
    def click_through(self, row: SourceDay) -> str:
        return f"{row.clicks / row.cards_shown:.2%}" if row.cards_shown else "–"

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:  # totals per surface, row and source over what the filters chose
            totals = (
                changelist.get_queryset(request)
                .order_by()
                .values("surface", "row", "source")
                .annotate(shown=Sum("cards_shown"), clicks=Sum("clicks"), carts=Sum("add_to_carts"),
                          bought=Sum("purchases"), revenue=Sum("revenue"))
                .order_by("surface", "row", "-clicks")
            )  # fmt: skip
            response.context_data["totals"] = [
                {**row, "ctr": row["clicks"] / row["shown"] if row["shown"] else 0.0} for row in totals
            ]
        return response
