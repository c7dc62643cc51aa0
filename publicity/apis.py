"""The API of 媒体宣传 and follow-up: stories, likes, comments, the monthly vote, messages, return visits."""

from typing import Any

from django.http import FileResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle, ScopedRateThrottle
from rest_framework.views import APIView

from common.errors import NotFound
from common.fields import ID_IN_PATH, IdField, NumberField, actor, body_of, path_id
from common.uploads import photo_response
from dispatch.models import OrderPhoto

from . import followups, services
from .models import Comment, Message, Story
from .selectors import (
    comments_public,
    followups_open,
    message_public,
    messages_public,
    stories_public,
    story_public,
    vote_board,
)


class Scoped(ScopedRateThrottle):
    """A rate limit named per action (`throttle_scopes` on the view), so one view can hold several."""

    def allow_request(self, request: Request, view: Any) -> bool:
        self.scope = view.throttle_scopes.get(view.action)
        if self.scope is None:
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super(ScopedRateThrottle, self).allow_request(request, view)


class StorySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    body = serializers.CharField()
    team = serializers.DictField()
    published_at = serializers.DateTimeField(allow_null=True)
    likes = serializers.IntegerField()
    photos = serializers.ListField(child=serializers.CharField())
    comments = serializers.IntegerField()


class StoryDraftSerializer(serializers.Serializer):
    order = IdField()
    title = serializers.CharField(max_length=100)
    body = serializers.CharField(max_length=5000)
    photos = serializers.ListField(child=IdField(), required=False, default=list, max_length=9)


class StoryStateSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.CharField()
    title = serializers.CharField()


class TextSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=1000)


class CommentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()
    at = serializers.DateTimeField()
    by = serializers.CharField()


class HeldSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.CharField()


class LikeSerializer(serializers.Serializer):
    likes = serializers.IntegerField()
    liked = serializers.BooleanField()


def _story_state(story: Story, code: int = status.HTTP_200_OK) -> Response:
    return Response({"id": story.pk, "state": story.state, "title": story.title}, status=code)


class StoryViewSet(viewsets.ViewSet):
    """Published stories for everyone; drafts, publishing and withdrawing for the media editor."""

    lookup_value_regex = ID_IN_PATH
    throttle_scopes = {"like": "like", "comments": "comment"}

    def get_permissions(self) -> list[BasePermission]:
        public = self.action in ("list", "photo") or (self.action == "comments" and self.request.method == "GET")
        return [AllowAny()] if public else [IsAuthenticated()]

    def get_throttles(self) -> list[BaseThrottle]:
        writes = self.request.method == "POST"
        return [Scoped()] if writes else []

    @extend_schema(responses=StorySerializer(many=True))
    def list(self, request: Request) -> Response:
        order = "liked" if request.query_params.get("order") == "liked" else "new"
        return Response([story_public(s) for s in stories_public(order)[:100]])

    @extend_schema(request=StoryDraftSerializer, responses={201: StoryStateSerializer})
    def create(self, request: Request) -> Response:
        s = StoryDraftSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        v = s.validated_data
        story = services.story_draft(
            user=actor(request), order_id=v["order"], title=v["title"], body=v["body"], photo_ids=v["photos"]
        )
        return _story_state(story, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=StoryStateSerializer)
    @action(detail=True, methods=["post"])
    def publish(self, request: Request, pk: str) -> Response:
        return _story_state(services.story_publish(user=actor(request), story_id=path_id(pk)))

    @extend_schema(request=None, responses=StoryStateSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk: str) -> Response:
        return _story_state(services.story_withdraw(user=actor(request), story_id=path_id(pk)))

    @extend_schema(request=None, responses=LikeSerializer)
    @action(detail=True, methods=["post"])
    def like(self, request: Request, pk: str) -> Response:
        story, created = services.story_like(user=actor(request), story_id=path_id(pk))
        return Response({"likes": story.likes, "liked": created})

    @extend_schema(methods=["get"], responses=CommentSerializer(many=True))
    @extend_schema(methods=["post"], request=TextSerializer, responses={201: HeldSerializer})
    @action(detail=True, methods=["get", "post"])
    def comments(self, request: Request, pk: str) -> Response:
        if request.method == "GET":
            story = Story.objects.filter(pk=path_id(pk), state="published").first()
            if story is None:
                raise NotFound(_("Story %(id)s does not exist.") % {"id": pk})
            return Response(comments_public(story))
        s = TextSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        comment = services.comment_add(user=actor(request), story_id=path_id(pk), text=s.validated_data["text"])
        return Response({"id": comment.pk, "state": comment.state}, status=status.HTTP_201_CREATED)

    @extend_schema(responses={(200, "image/jpeg"): bytes})
    @action(detail=True, methods=["get"], url_path=r"photos/(?P<photo_id>[0-9]{1,18})")
    def photo(self, request: Request, pk: str, photo_id: str) -> FileResponse:
        """A photo the editor chose for a published story: public, re-encoded without its place."""
        photo = OrderPhoto.objects.filter(
            pk=path_id(photo_id), stories__pk=path_id(pk), stories__state="published"
        ).first()
        if photo is None:
            raise NotFound(_("There is no such photo."))
        return photo_response(photo.image, public=True)


class CommentViewSet(viewsets.ViewSet):
    """The editor's moderation: comments held, approved or rejected."""

    lookup_value_regex = ID_IN_PATH

    @extend_schema(responses=CommentSerializer(many=True))
    def list(self, request: Request) -> Response:
        services.require_editor(actor(request))
        rows = Comment.objects.filter(state="held").select_related("user", "story").order_by("at")[:200]
        return Response([{"id": c.pk, "text": c.text, "at": c.at, "by": str(c.story)} for c in rows])

    @extend_schema(request=None, responses=HeldSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str) -> Response:
        comment = services.comment_decide(user=actor(request), comment_id=path_id(pk), approve=True)
        return Response({"id": comment.pk, "state": comment.state})

    @extend_schema(request=None, responses=HeldSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str) -> Response:
        comment = services.comment_decide(user=actor(request), comment_id=path_id(pk), approve=False)
        return Response({"id": comment.pk, "state": comment.state})


class VoteRequestSerializer(serializers.Serializer):
    team = IdField()


class VoteApi(APIView):
    """This month's vote for the best team: the teams, and the counts once the month is over (live to the editor)."""

    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "vote"

    def get_permissions(self) -> list[BasePermission]:
        return [AllowAny()] if self.request.method == "GET" else [IsAuthenticated()]

    def get_throttles(self) -> list[BaseThrottle]:
        return super().get_throttles() if self.request.method == "POST" else []

    @extend_schema(responses={200: dict})
    def get(self, request: Request) -> Response:
        return Response(vote_board(timezone.localdate(), editor=services.is_editor(actor(request))))

    @extend_schema(request=VoteRequestSerializer, responses={201: dict})
    def post(self, request: Request) -> Response:
        s = VoteRequestSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        vote = services.vote_cast(user=actor(request), team_id=s.validated_data["team"])
        return Response({"month": f"{vote.month:%Y-%m}", "team": vote.team_id}, status=status.HTTP_201_CREATED)


class MessageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()
    at = serializers.DateTimeField()
    state = serializers.CharField()
    reply = serializers.CharField()
    replied_at = serializers.DateTimeField(allow_null=True)
    order = serializers.IntegerField(allow_null=True)
    order_state = serializers.CharField(allow_null=True)
    photo = serializers.CharField(allow_null=True)


class MessagePostSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=1000)
    lat = NumberField(required=False, allow_null=True, default=None, min_value=-90, max_value=90)
    lng = NumberField(required=False, allow_null=True, default=None, min_value=-180, max_value=180)
    phone = serializers.CharField(required=False, allow_blank=True, default="", max_length=20)
    photo = serializers.ImageField(required=False, allow_null=True, default=None)


class AssignSerializer(serializers.Serializer):
    category = IdField()
    station = IdField()


class HideSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200)


class MessageViewSet(viewsets.ViewSet):
    """留言直达: anyone writes; staff answer in public, turn it into an order (交办), or hide it with a reason."""

    lookup_value_regex = ID_IN_PATH
    throttle_scopes = {"create": "message"}

    def get_permissions(self) -> list[BasePermission]:
        return [AllowAny()] if self.action in ("list", "create", "photo") else [IsAuthenticated()]

    def get_throttles(self) -> list[BaseThrottle]:
        return [Scoped()]

    @extend_schema(responses=MessageSerializer(many=True))
    def list(self, request: Request) -> Response:
        return Response([message_public(m) for m in messages_public()[:100]])

    @extend_schema(request=MessagePostSerializer, responses={201: MessageSerializer})
    def create(self, request: Request) -> Response:
        s = MessagePostSerializer(data=body_of(request))
        s.is_valid(raise_exception=True)
        v = s.validated_data
        message = services.message_post(
            user=actor(request), text=v["text"], lat=v["lat"], lng=v["lng"], phone=v["phone"], photo=v["photo"]
        )
        return Response(message_public(message), status=status.HTTP_201_CREATED)

    @extend_schema(request=TextSerializer, responses=MessageSerializer)
    @action(detail=True, methods=["post"])
    def reply(self, request: Request, pk: str) -> Response:
        s = TextSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        message = services.message_reply(user=actor(request), message_id=path_id(pk), text=s.validated_data["text"])
        return Response(message_public(message))

    @extend_schema(request=AssignSerializer, responses={201: dict})
    @action(detail=True, methods=["post"])
    def assign(self, request: Request, pk: str) -> Response:
        s = AssignSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        order = services.message_assign(
            user=actor(request),
            message_id=path_id(pk),
            category_id=s.validated_data["category"],
            station_id=s.validated_data["station"],
        )
        return Response(
            {"order": order.pk, "state": order.state, "message": path_id(pk)}, status=status.HTTP_201_CREATED
        )

    @extend_schema(request=HideSerializer, responses=MessageSerializer)
    @action(detail=True, methods=["post"])
    def hide(self, request: Request, pk: str) -> Response:
        s = HideSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        message = services.message_hide(user=actor(request), message_id=path_id(pk), reason=s.validated_data["reason"])
        return Response(message_public(message))

    @extend_schema(responses={(200, "image/jpeg"): bytes})
    @action(detail=True, methods=["get"])
    def photo(self, request: Request, pk: str) -> FileResponse:
        message = Message.objects.filter(pk=path_id(pk)).exclude(state="hidden").first()
        if message is None or not message.photo:
            raise NotFound(_("There is no such photo."))
        return photo_response(message.photo, public=True)


class VisitSerializer(serializers.Serializer):
    order = IdField()
    reached = serializers.BooleanField()
    satisfied = serializers.BooleanField(required=False, allow_null=True, default=None)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=1000)


class ClosingNoteSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=1000)


class VisitApi(APIView):
    """回访: station staff record a call back on a served order."""

    @extend_schema(request=VisitSerializer, responses={201: dict})
    def post(self, request: Request) -> Response:
        s = VisitSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        v = s.validated_data
        visit = followups.visit_log(
            user=actor(request), order_id=v["order"], reached=v["reached"], satisfied=v["satisfied"], note=v["note"]
        )
        return Response({"id": visit.pk, "order": visit.order_id}, status=status.HTTP_201_CREATED)


class FollowUpSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    order = serializers.IntegerField()
    reason = serializers.CharField()
    opened_at = serializers.DateTimeField()


class FollowUpViewSet(viewsets.ViewSet):
    """Follow-ups of the dispatcher's unit: open ones, and closing one with a note."""

    lookup_value_regex = ID_IN_PATH

    @extend_schema(responses=FollowUpSerializer(many=True))
    def list(self, request: Request) -> Response:
        rows = followups_open(actor(request))[:200]
        return Response([{"id": f.pk, "order": f.order_id, "reason": f.reason, "opened_at": f.opened_at} for f in rows])

    @extend_schema(request=ClosingNoteSerializer, responses={200: dict})
    @action(detail=True, methods=["post"])
    def close(self, request: Request, pk: str) -> Response:
        s = ClosingNoteSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        follow_up = followups.followup_close(
            user=actor(request), followup_id=path_id(pk), note=s.validated_data["note"]
        )
        return Response({"id": follow_up.pk, "closed_at": follow_up.closed_at})
