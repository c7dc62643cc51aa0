import pytest

from dispatch.choices import OrderState


@pytest.mark.parametrize("state", OrderState.values)
def test_the_story_reaches_every_state(story, state):
    assert story.in_state(state).state == state
