"""Signing in with a phone number and a one-time code (DESIGN §1), or with a password.

A code is sent through the notification backends (the console in `make run`), lives
`SIGNIN_CODE_TTL`, allows `SIGNIN_CODE_MAX_TRIES` tries, and is rate-limited per phone and
per address. A first sign-in of an unknown phone creates a citizen account. Staff accounts
(`password_only`) sign in with their password only: no code is ever sent to them, and
the answer to asking for one does not tell.
"""

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.models import Group
from django.contrib.auth.models import User as Account
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from common.errors import InvalidInput, RateLimited
from dispatch import outbox
from dispatch.choices import Role
from dispatch.models import Notification, StaffProfile
from requests_app.models import Citizen

from .models import SignInCode

PHONE_RE = re.compile(r"1[3-9]\d{9}")
SIGNIN_FAILURE_WINDOW = timedelta(minutes=15)
_SEPARATORS = re.compile(r"[\s\-()]")


def phone_clean(raw: str) -> str:
    """A mainland mobile number as 11 digits; spaces, dashes and a +86 prefix are dropped."""
    phone = _SEPARATORS.sub("", raw or "")
    for prefix in ("+86", "0086"):
        if phone.startswith(prefix):
            phone = phone[len(prefix) :]
    if not PHONE_RE.fullmatch(phone):
        raise InvalidInput(
            _("Enter an 11-digit mobile number."),
            code="invalid_phone",
            fields={"phone": [_("Enter an 11-digit mobile number, such as 13812345678.")]},
        )
    return phone


def _hash(phone: str, code: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), f"{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def _seconds_until(moment: datetime) -> int:
    return max(1, int((moment - timezone.now()).total_seconds()) + 1)


def _check_limits(phone: str, address: str | None) -> None:
    now = timezone.now()
    hour_ago = now - timedelta(hours=1)
    last = SignInCode.objects.filter(phone=phone).order_by("-created_at").first()
    gap = timedelta(seconds=settings.SIGNIN_CODE_RESEND_S)
    if last is not None and now - last.created_at < gap:
        wait = _seconds_until(last.created_at + gap)
        raise RateLimited(
            _("A code was just sent to this phone; you may ask again in %(s)d seconds.") % {"s": wait},
            retry_after=wait,
            fields={"phone": [_("Wait %(s)d seconds before asking again.") % {"s": wait}]},
        )
    hourly = [(Q(phone=phone), settings.SIGNIN_CODES_PER_PHONE_HOUR, "phone")]
    if address:
        hourly.append((Q(address=address), settings.SIGNIN_CODES_PER_ADDRESS_HOUR, "address"))
    for who, limit, what in hourly:
        recent = SignInCode.objects.filter(who, created_at__gte=hour_ago).order_by("created_at")
        if recent.count() >= limit:
            wait = _seconds_until(recent[0].created_at + timedelta(hours=1))
            minutes = {"m": (wait + 59) // 60}
            if what == "phone":
                detail = _("Too many codes for this phone; try again in %(m)d minutes.") % minutes
            else:
                detail = _("Too many codes asked from this network; try again in %(m)d minutes.") % minutes
            raise RateLimited(detail, retry_after=wait, fields={"phone": [detail]} if what == "phone" else None)


def signin_code_send(*, phone: str, address: str | None = None) -> SignInCode:
    """Make a code for the phone and send it after commit; refuses when asked too often."""
    phone = phone_clean(phone)
    with transaction.atomic():
        _check_limits(phone, address)
        code = f"{secrets.randbelow(1_000_000):06d}"
        now = timezone.now()
        row = SignInCode.objects.create(
            phone=phone,
            code_hash=_hash(phone, code),
            address=address,
            created_at=now,
            expires_at=now + settings.SIGNIN_CODE_TTL,
        )
        if not password_only(Account.objects.filter(username=phone).first()):
            minutes = int(settings.SIGNIN_CODE_TTL.total_seconds() // 60)
            text = _("Your Civic Dispatch sign-in code is %(code)s; it expires in %(m)d minutes.") % {
                "code": code,
                "m": minutes,
            }
            user = Account.objects.filter(username=phone).first()
            notification = Notification.objects.create(
                user=user, phone="" if user else phone, kind=Notification.Kind.SIGNIN_CODE, text=text
            )
            outbox.enqueue_after_commit("dispatch.tasks.send_notification", notification.pk)
    return row


def password_only(user: Account | None) -> bool:
    """Staff (the admin, dispatchers, media editors) sign in with their password, never a code."""
    if user is None:
        return False
    return user.is_staff or user.is_superuser or StaffProfile.objects.filter(user=user).exists()


def _wrong_code(detail: str) -> InvalidInput:
    return InvalidInput(detail, code="wrong_code", fields={"code": [detail]})


def signin_with_code(*, phone: str, code: str) -> Account:
    """The account behind a phone whose latest code matches; an unknown phone becomes a citizen."""
    phone = phone_clean(phone)
    code = (code or "").strip()
    row = SignInCode.objects.filter(phone=phone, used_at__isnull=True).order_by("-created_at").first()
    if row is None or row.expires_at <= timezone.now():
        raise _wrong_code(_("The code has expired or was never sent; ask for a new one."))
    # Each try is counted before the comparison, so parallel guesses share the same budget.
    counted = SignInCode.objects.filter(pk=row.pk, used_at__isnull=True, tries__lt=settings.SIGNIN_CODE_MAX_TRIES)
    if not counted.update(tries=F("tries") + 1):
        raise _wrong_code(_("Too many wrong tries; ask for a new code."))
    if not re.fullmatch(r"\d{6}", code) or not hmac.compare_digest(row.code_hash, _hash(phone, code)):
        left = settings.SIGNIN_CODE_MAX_TRIES - row.tries - 1
        if left <= 0:
            raise _wrong_code(_("Too many wrong tries; ask for a new code."))
        raise _wrong_code(_("Wrong code; %(n)d tries left.") % {"n": left})
    if not SignInCode.objects.filter(pk=row.pk, used_at__isnull=True).update(used_at=timezone.now()):
        raise _wrong_code(_("The code has expired or was never sent; ask for a new one."))
    user = Account.objects.filter(username=phone).first()
    if user is not None:
        if password_only(user) or not user.is_active:
            raise _wrong_code(_("This account signs in with its password."))
        return user
    return _new_citizen(phone)


def citizen_find_or_make(*, phone: str, name: str = "") -> Citizen:
    """The citizen with this phone, made if there is none (代点单: staff order for someone who phoned)."""
    phone = phone_clean(phone)
    user = Account.objects.filter(username=phone).first()
    if user is not None and password_only(user):
        raise InvalidInput(
            _("This number belongs to a staff account."), code="staff_phone", fields={"phone": [_("Not a citizen.")]}
        )
    if user is None:
        user = _new_citizen(phone)
    citizen, _created = Citizen.objects.get_or_create(user=user, defaults={"phone": phone, "name": name[:50]})
    if name and not citizen.name:
        citizen.name = name[:50]
        citizen.save(update_fields=["name"])
    return citizen


def _new_citizen(phone: str) -> Account:
    try:
        with transaction.atomic():
            user = Account(username=phone)
            user.set_unusable_password()
            user.save()
            user.groups.add(Group.objects.get_or_create(name=Role.CITIZEN)[0])
            Citizen.objects.create(user=user, name="", phone=phone)
    except IntegrityError:
        # The same phone's first sign-in, twice at once: the other one created it.
        return Account.objects.get(username=phone)
    return user


def signin_with_password(*, request: HttpRequest | None, phone: str, password: str) -> Account:
    """Staff (and anyone with a password) sign in with phone number and password."""
    username = (phone or "").strip()
    address = request.META.get("REMOTE_ADDR", "") if request is not None else ""
    failures = f"signin-failures:{address}:{hashlib.sha256(username.encode()).hexdigest()[:16]}"
    if (cache.get(failures) or 0) >= settings.SIGNIN_PASSWORD_MAX_FAILURES:
        wait = int(SIGNIN_FAILURE_WINDOW.total_seconds())
        raise RateLimited(
            _("Too many wrong passwords; try again in %(m)d minutes.") % {"m": wait // 60}, retry_after=wait
        )
    user = authenticate(request, username=username, password=password)
    if user is None:
        # Counted per account and address, for a quarter of an hour from the first failure.
        cache.add(failures, 0, timeout=int(SIGNIN_FAILURE_WINDOW.total_seconds()))
        try:
            cache.incr(failures)
        except ValueError:
            cache.set(failures, 1, timeout=int(SIGNIN_FAILURE_WINDOW.total_seconds()))
        raise InvalidInput(
            _("Wrong phone number or password."),
            code="wrong_password",
            fields={"password": [_("Wrong phone number or password.")]},
        )
    return user
