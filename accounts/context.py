from django.http import HttpRequest

ELDER_COOKIE = "elder"


def display(request: HttpRequest) -> dict[str, bool]:
    """The reader's display choice: 长辈版 (larger text and targets), kept in a cookie."""
    return {"elder": request.COOKIES.get(ELDER_COOKIE) == "1"}
