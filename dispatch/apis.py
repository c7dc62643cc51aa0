"""The order and offer API (DESIGN §5): thin classes that parse, call one service, render."""

from collections.abc import Callable
from typing import Any

from django.db.models import (
    Case,
    IntegerField,
    Model,
    Prefetch,
    Value,
    When,
)
from django.http import FileResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from common.errors import Forbidden, InvalidInput, NotFound
from common.fields import ID_IN_PATH, actor, body_of, path_id
from common.uploads import photo_response
from realtime.events import event_message
from realtime.selectors import order_events_visible_to
from requests_app import services as intake
from requests_app.models import Category, ServiceItem
from volunteers import services as field_work

from . import services
from .choices import OfferState
from .filters import OrderFilter
from .models import Offer, Order, OrderPhoto, Unit
from .selectors import (
    is_dispatcher,
    offers_visible_to,
    order_details_visible_to,
    order_statistics,
    orders_visible_to,
    team_candidates,
)
from .serializers import (
    CandidateQuerySerializer,
    CandidateSerializer,
    CompleteSerializer,
    DispatchSerializer,
    EvaluateSerializer,
    EventQuerySerializer,
    EventSerializer,
    MatchSerializer,
    NoteSerializer,
    OfferWithOrderSerializer,
    OrderCreateSerializer,
    OrderSerializer,
    StartSerializer,
)
from .visibility import sees_private_details

# The key is stored on the order; its column sets the limit.
IDEMPOTENCY_KEY_MAX_LENGTH = Order._meta.get_field("idempotency_key").max_length


def _input(serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    s = serializer_class(data=request.data)
    s.is_valid(raise_exception=True)
    return s.validated_data


def _answered(change: Callable[[], Order], render: Callable[[int], Response]) -> Response:
    """Make an order or offer action's change (its service owns the transaction), then render what committed."""
    return render(change().pk)


IDEMPOTENCY_HEADER = OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False)


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get("Idempotency-Key") or None
    if key is not None and len(key) > IDEMPOTENCY_KEY_MAX_LENGTH:
        raise InvalidInput(
            _("The Idempotency-Key is too long."),
            fields={"Idempotency-Key": [_("At most %(n)d characters.") % {"n": IDEMPOTENCY_KEY_MAX_LENGTH}]},
        )
    return key


def _fk(model: type[Model], pk: int | None, field: str) -> Any:
    if pk is None:
        return None
    obj = model._default_manager.filter(pk=pk).first()
    if obj is None:
        raise InvalidInput(
            _("Unknown %(field)s.") % {"field": field}, fields={field: [_("No such %(field)s.") % {"field": field}]}
        )
    return obj


class OrderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = OrderSerializer
    filterset_class = OrderFilter
    lookup_value_regex = ID_IN_PATH

    def get_queryset(self):
        return order_details_visible_to(self.request.user)

    def get_throttles(self):
        if self.action == "create":
            self.throttle_scope = "order_place"
            return [ScopedRateThrottle()]
        return super().get_throttles()

    def _render(self, order_id: int, code: int = status.HTTP_200_OK) -> Response:
        order = self.get_queryset().get(pk=order_id)
        return Response(self.get_serializer(order).data, status=code)

    def _visible(self, pk: str) -> int:
        return services.visible_order_id(order_id=path_id(pk), user=actor(self.request))

    @extend_schema(
        request=OrderCreateSerializer,
        responses={201: OrderSerializer, 200: OrderSerializer},
        parameters=[IDEMPOTENCY_HEADER],
    )
    def create(self, request: Request) -> Response:
        data = _input(OrderCreateSerializer, request)
        key = _idempotency_key(request)
        category = _fk(Category, data.pop("category"), "category")
        item = _fk(ServiceItem, data.pop("item", None), "item")
        station = _fk(Unit, data.pop("station", None), "station")
        order, created = intake.order_place(
            user=actor(request), category=category, item=item, station=station, idempotency_key=key, **data
        )
        return self._render(order.pk, status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(
        parameters=[CandidateQuerySerializer],
        responses=PolymorphicProxySerializer(
            component_name="Candidates",
            serializers=[CandidateSerializer(many=True), MatchSerializer],
            resource_type_field_name=None,
            many=False,
        ),
        description=_(
            "Eligible teams, best first. With explain=true the answer is an object that also says how far "
            "the search went and, when no team qualifies, why."
        ),
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def candidates(self, request: Request, pk: str) -> Response:
        order = get_object_or_404(Order.objects.select_related("station"), pk=self._visible(pk))
        if not is_dispatcher(request.user):
            raise Forbidden(_("Only dispatchers may see candidate teams."))
        services.require_dispatcher_of(actor(request), order)
        params = CandidateQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        match = team_candidates(order, limit=params.validated_data.get("limit"), for_user=request.user)
        if params.validated_data["explain"]:
            return Response(MatchSerializer(match).data)
        return Response(CandidateSerializer(match.candidates, many=True).data)

    @extend_schema(request=DispatchSerializer, responses=OrderSerializer)
    # Named apart from APIView.dispatch, which every request goes through.
    @action(detail=True, methods=["post"], url_path="dispatch", url_name="dispatch")
    def dispatch_order(self, request: Request, pk: str) -> Response:
        order_id = self._visible(pk)
        data = _input(DispatchSerializer, request)
        return _answered(
            lambda: services.order_dispatch(
                order_id=order_id, user=actor(request), mode=data["mode"], team_ids=data["teams"], note=data["note"]
            ),
            self._render,
        )

    def _noted(self, request: Request, pk: str, service) -> Response:
        order_id = self._visible(pk)
        note = _input(NoteSerializer, request)["note"]
        return _answered(lambda: service(order_id=order_id, user=actor(request), note=note), self._render)

    @extend_schema(request=NoteSerializer, responses=OrderSerializer)
    @action(detail=True, methods=["post"])
    def recall(self, request: Request, pk: str) -> Response:
        return self._noted(request, pk, services.order_recall)

    @extend_schema(request=NoteSerializer, responses=OrderSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str) -> Response:
        return self._noted(request, pk, services.order_reject)

    @extend_schema(request=NoteSerializer, responses=OrderSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        return self._noted(request, pk, services.order_cancel)

    @extend_schema(request=NoteSerializer, responses=OrderSerializer)
    @action(detail=True, methods=["post"])
    def abandon(self, request: Request, pk: str) -> Response:
        return self._noted(request, pk, services.order_abandon)

    @extend_schema(request=StartSerializer, responses=OrderSerializer, parameters=[IDEMPOTENCY_HEADER])
    @action(detail=True, methods=["post"])
    def start(self, request: Request, pk: str) -> Response:
        order_id = self._visible(pk)
        data = _input(StartSerializer, request)
        key = _idempotency_key(request)
        return _answered(
            lambda: field_work.order_start(
                order_id=order_id,
                user=actor(request),
                lat=data.get("lat"),
                lng=data.get("lng"),
                qr=data.get("qr"),
                idempotency_key=key,
            ),
            self._render,
        )

    @extend_schema(request=CompleteSerializer, responses=OrderSerializer, parameters=[IDEMPOTENCY_HEADER])
    @action(detail=True, methods=["post"])
    def complete(self, request: Request, pk: str) -> Response:
        order_id = self._visible(pk)
        key = _idempotency_key(request)
        s = CompleteSerializer(data=body_of(request, "photos"))
        s.is_valid(raise_exception=True)
        return _answered(
            lambda: field_work.order_complete(
                order_id=order_id,
                user=actor(request),
                summary=s.validated_data["summary"],
                hours=[dict(line) for line in s.validated_data["hours"]],
                photos=s.validated_data["photos"],
                idempotency_key=key,
            ),
            self._render,
        )

    @extend_schema(request=EvaluateSerializer, responses=OrderSerializer)
    @action(detail=True, methods=["post"])
    def evaluate(self, request: Request, pk: str) -> Response:
        order_id = self._visible(pk)
        data = _input(EvaluateSerializer, request)
        return _answered(lambda: intake.order_evaluate(order_id=order_id, user=actor(request), **data), self._render)

    @extend_schema(parameters=[EventQuerySerializer], responses=EventSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def events(self, request: Request, pk: str) -> Response:
        """The order's events after a sequence number, as the user's stream carried them; at most 500."""
        order_id = self._visible(pk)
        params = EventQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        rows = order_events_visible_to(actor(request), order_id=order_id, after=params.validated_data["after"])
        return Response([event_message(e) for e in rows])


class OfferViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = OfferWithOrderSerializer
    filterset_fields = ["state", "team", "order"]
    lookup_value_regex = ID_IN_PATH

    def get_queryset(self):
        # Live offers first, then the newest.
        return (
            offers_visible_to(self.request.user)
            .prefetch_related(
                Prefetch("order__offers", queryset=Offer.objects.select_related("team")), "order__transitions__offer"
            )
            .annotate(
                live=Case(When(state=OfferState.PENDING, then=Value(0)), default=Value(1), output_field=IntegerField())
            )
            .order_by("live", "-created_at", "-id")
        )

    def _offer_id(self, pk: str) -> int:
        offer_id = path_id(pk)
        if not offers_visible_to(self.request.user).filter(pk=offer_id).exists():
            raise NotFound(_("Offer %(id)s does not exist.") % {"id": pk})
        return offer_id

    @extend_schema(request=None, responses=OrderSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk: str) -> Response:
        offer_id = self._offer_id(pk)
        return _answered(lambda: services.offer_accept(offer_id=offer_id, user=actor(request)), self._render_order)

    @extend_schema(request=NoteSerializer, responses=OrderSerializer)
    @action(detail=True, methods=["post"])
    def decline(self, request: Request, pk: str) -> Response:
        offer_id, note = self._offer_id(pk), _input(NoteSerializer, request)["note"]
        return _answered(
            lambda: services.offer_decline(offer_id=offer_id, user=actor(request), note=note), self._render_order
        )

    def _render_order(self, order_id: int) -> Response:
        order = order_details_visible_to(self.request.user).get(pk=order_id)
        return Response(OrderSerializer(order, context=self.get_serializer_context()).data)


class OrderPhotoApi(APIView):
    """A completion photo, for the order's staff, its citizen and the team that served it; never public."""

    @extend_schema(responses={(200, "image/jpeg"): bytes})
    def get(self, request: Request, order_id: int, name: str) -> FileResponse:
        order = orders_visible_to(request.user).filter(pk=path_id(str(order_id))).first()
        photo = OrderPhoto.objects.filter(order=order, image=f"orders/{order_id}/{name}").first() if order else None
        if order is None or photo is None or not sees_private_details(request.user, order):
            raise NotFound(_("There is no such photo."))
        return photo_response(photo.image)


class StatsApi(APIView):
    """Counts, timings, satisfaction and hours in the dispatcher's subtree."""

    @extend_schema(responses={200: dict})
    def get(self, request: Request) -> Response:
        if not is_dispatcher(request.user):
            raise Forbidden(_("Only dispatchers may see statistics."))
        return Response(order_statistics(request.user))
