import django_filters
from django.db.models import Q, QuerySet

from common.filters import DateTimeFilter, FilterSet, IdFilter

from .choices import Level, OrderState, Priority
from .models import Order, Unit


class OrderFilter(FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=OrderState.choices)
    level = django_filters.ChoiceFilter(choices=Level.choices)
    priority = django_filters.ChoiceFilter(choices=Priority.choices)
    category = IdFilter(field_name="category_id")
    station = IdFilter(field_name="station_id")
    team = IdFilter(field_name="team_id")
    unit = IdFilter(method="filter_unit", label="unit (its whole subtree)")
    created_after = DateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = DateTimeFilter(field_name="created_at", lookup_expr="lt")
    q = django_filters.CharFilter(method="filter_text", label="text search")

    class Meta:
        model = Order
        fields = ["state", "level", "priority", "category", "station", "team", "unit"]

    def filter_unit(self, queryset: QuerySet[Order], name: str, value: int) -> QuerySet[Order]:
        unit = Unit.objects.filter(pk=value).first()
        if unit is None:
            return queryset.none()
        return queryset.filter(station__path__startswith=unit.path)

    def filter_text(self, queryset: QuerySet[Order], name: str, value: str) -> QuerySet[Order]:
        value = value.strip()[:100]
        if not value:
            return queryset
        return queryset.filter(
            Q(description__icontains=value) | Q(address__icontains=value) | Q(category__name__icontains=value)
        )
