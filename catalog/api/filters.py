import django_filters

from catalog.models import Gender, Product


class ProductFilter(django_filters.FilterSet):
    gender = django_filters.ChoiceFilter(choices=Gender.choices)
    category = django_filters.CharFilter(lookup_expr="iexact")
    article_type = django_filters.CharFilter(lookup_expr="iexact")
    colour = django_filters.CharFilter(lookup_expr="iexact")
    in_stock = django_filters.BooleanFilter(method="filter_in_stock")
    price_min = django_filters.NumberFilter(field_name="price", lookup_expr="gte")
    price_max = django_filters.NumberFilter(field_name="price", lookup_expr="lte")

    class Meta:
        model = Product
        fields = ["gender", "category", "article_type", "colour", "in_stock", "price_min", "price_max"]

    def filter_in_stock(self, queryset, name, value):
        return queryset.filter(stock_quantity__gt=0) if value else queryset.filter(stock_quantity=0)
