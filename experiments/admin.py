from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet

from experiments.models import Arm, Experiment
from experiments.selectors.assignment import forget_running
from experiments.selectors.results import experiment_results, shoppers_needed
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
    model = Arm
    formset = ArmFormSet
    extra = 2


class ExperimentForm(forms.ModelForm):
    surfaces = forms.MultipleChoiceField(
        choices=Experiment._meta.get_field("surfaces").base_field.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = Experiment
        fields = ["name", "surfaces", "starts_at", "ends_at", "is_enabled"]


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    form = ExperimentForm
    inlines = [ArmInline]
    list_display = ["name", "starts_at", "ends_at", "is_enabled"]
    actions = ["roll_up_now"]
    change_form_template = "admin/experiments/experiment/change_form.html"

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
            extra_context = {**(extra_context or {}), "results": results, "planner": planner, "base_rate": base}
        return super().change_view(request, object_id, form_url, extra_context)
