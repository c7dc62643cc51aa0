from typing import Any

from django.conf import settings
from django.core.checks import Error, register


@register()
def star_levels(**kwargs: Any) -> list[Error]:
    """STAR_LEVEL_HOURS: five thresholds, positive and rising (provinces differ; the shape does not)."""
    levels = settings.STAR_LEVEL_HOURS
    if len(levels) != 5 or levels[0] <= 0 or any(b <= a for a, b in zip(levels, levels[1:], strict=False)):
        return [Error(f"STAR_LEVEL_HOURS must be five rising positive numbers, not {levels}", id="volunteers.E001")]
    return []
