"""Admin for the service menu (服务菜单) and the citizens who order from it."""

from django.contrib import admin

from dispatch.admin import institute_filter

from .models import Category, Citizen, ServiceItem


class ServiceItemInline(admin.TabularInline):
    model = ServiceItem
    extra = 0
    fields = ["name", "name_en", "description", "default_duration_hours", "active"]


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "icon", "code", "name_en", "default_duration_hours", "sort_order", "active"]
    list_editable = ["sort_order", "active"]
    list_filter = ["active"]
    search_fields = ["name", "name_en", "code"]
    inlines = [ServiceItemInline]


@admin.register(ServiceItem)
class ServiceItemAdmin(admin.ModelAdmin):
    list_display = ["name", "category", "name_en", "default_duration_hours", "active"]
    list_filter = ["category", "active"]
    search_fields = ["name", "name_en", "category__name"]
    list_select_related = ["category"]
    autocomplete_fields = ["category"]


@admin.register(Citizen)
class CitizenAdmin(admin.ModelAdmin):
    list_display = ["name", "phone", "station", "user"]
    list_filter = [institute_filter("station")]
    search_fields = ["name", "phone", "user__username", "station__name", "station__code"]
    list_select_related = ["station", "user"]
    autocomplete_fields = ["user", "station"]
