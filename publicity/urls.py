from django.urls import path

import common.converters  # noqa: F401 - registers <id:…>

from . import views

urlpatterns = [
    path("wall/", views.wall, name="wall"),
    path("wall/stories/<id:story_id>/like/", views.like, name="wall-like"),
    path("wall/stories/<id:story_id>/comment/", views.comment, name="wall-comment"),
    path("wall/vote/", views.vote, name="wall-vote"),
    path("messages/", views.board, name="messages-board"),
    path("messages/<id:message_id>/<str:step>/", views.message_step, name="message-step"),
    path("editor/", views.desk, name="editor"),
    path("editor/orders/<id:order_id>/draft/", views.draft, name="editor-draft"),
    path("editor/stories/<id:story_id>/<str:step>/", views.story_step, name="editor-story"),
    path("editor/comments/<id:comment_id>/", views.moderate, name="editor-moderate"),
    path("console/followups/", views.followup_list, name="console-followups"),
    path("console/followups/<id:followup_id>/close/", views.followup_close, name="console-followup-close"),
    path("console/visits/", views.visit, name="console-visit"),
    path("console/messages/<id:message_id>/assign/", views.assign, name="console-assign"),
]
