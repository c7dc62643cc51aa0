from rest_framework import serializers, viewsets
from rest_framework.permissions import AllowAny

from common.fields import ID_IN_PATH

from .models import Category, ServiceItem


class ServiceItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = ServiceItem
        fields = ["id", "name", "name_en", "description", "default_duration_hours"]


class CategorySerializer(serializers.ModelSerializer):
    items = serializers.SerializerMethodField()

    class Meta:
        model = Category
        fields = ["id", "code", "name", "name_en", "icon", "description", "default_duration_hours", "items"]

    def get_items(self, category: Category) -> list[dict]:
        return list(ServiceItemSerializer([i for i in category.items.all() if i.active], many=True).data)


class CategoryViewSet(viewsets.ReadOnlyModelViewSet):
    """The service menu (服务菜单): open to anyone."""

    serializer_class = CategorySerializer
    permission_classes = [AllowAny]
    pagination_class = None
    filterset_fields = ["code"]
    lookup_value_regex = ID_IN_PATH
    queryset = Category.objects.filter(active=True).prefetch_related("items")
