from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from accounts import views as account_views
from accounts.apis import SignInCodeApi, TokenApi
from dispatch import views as dispatch_views
from dispatch.apis import OfferViewSet, OrderPhotoApi, OrderViewSet, StatsApi
from publicity.apis import CommentViewSet, FollowUpViewSet, MessageViewSet, StoryViewSet, VisitApi, VoteApi
from records import views as record_views
from records.apis import CertificateApi, CertificatePdfApi, ExportViewSet
from requests_app.apis import CategoryViewSet
from volunteers.apis import TeamViewSet
from volunteers.ledger_apis import RecordPhotoApi, RecordViewSet, VolunteerViewSet

from . import views
from .schema import SchemaView

router = DefaultRouter()
router.register("categories", CategoryViewSet, basename="category")
router.register("orders", OrderViewSet, basename="order")
router.register("offers", OfferViewSet, basename="offer")
router.register("teams", TeamViewSet, basename="team")
router.register("volunteers", VolunteerViewSet, basename="volunteer")
router.register("records", RecordViewSet, basename="record")
router.register("exports", ExportViewSet, basename="export")
router.register("stories", StoryViewSet, basename="story")
router.register("comments", CommentViewSet, basename="comment")
router.register("messages", MessageViewSet, basename="message")
router.register("followups", FollowUpViewSet, basename="followup")

urlpatterns = [
    path("login/", account_views.signin, name="signin"),
    path("logout/", account_views.signout, name="signout"),
    path("display/elder/", account_views.elder_mode, name="elder-mode"),
    path("", include("requests_app.urls")),
    path("team/", include("volunteers.urls")),
    path("console/", include("dispatch.urls")),
    path("console/", include("records.urls")),
    path("", include("publicity.urls")),
    path("board/", dispatch_views.board, name="board"),
    path("board/figures.json", dispatch_views.board_data, name="board-data"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/auth/code/", SignInCodeApi.as_view(), name="api-signin-code"),
    path("api/v1/auth/token/", TokenApi.as_view(), name="api-token"),
    path("api/v1/stats/", StatsApi.as_view(), name="api-stats"),
    path("api/v1/votes/current/", VoteApi.as_view(), name="api-vote"),
    path("api/v1/visits/", VisitApi.as_view(), name="api-visits"),
    path("verify/<str:number>/", record_views.verify, name="verify"),
    path("api/v1/certificates/<str:number>/", CertificateApi.as_view(), name="api-certificate"),
    path("api/v1/certificates/<str:number>/pdf/", CertificatePdfApi.as_view(), name="api-certificate-pdf"),
    path("api/v1/", include(router.urls)),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path(
        f"{settings.PRIVATE_FILES_URL.strip('/')}/orders/<int:order_id>/<str:name>",
        OrderPhotoApi.as_view(),
        name="order-photo",
    ),
    path(
        f"{settings.PRIVATE_FILES_URL.strip('/')}/records/<int:record_id>/<str:name>",
        RecordPhotoApi.as_view(),
        name="record-photo",
    ),
]
# The admin follows the browser's language (LocaleMiddleware); no language prefix in URLs.
urlpatterns.append(path("admin/", admin.site.urls))

handler400 = views.bad_request
handler403 = views.permission_denied
handler404 = views.page_not_found
handler500 = views.server_error
