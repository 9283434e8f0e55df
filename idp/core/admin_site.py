"""The administrators' site: Django admin behind a password and a TOTP second factor.

One login page asks for username, password and the code of the administrator's authenticator app
(django-otp's ``OTPAdminSite``, whose ``has_permission`` also demands a session verified by a
device). Every attempt is journaled: ``admin:login:succeeded`` / ``admin:login:failed`` (with the
username attempted and the reason codes, never the password or the code) and ``admin:logout:done``.

Brute force, two locks:

* wrong codes throttle the device (django-otp ``ThrottlingMixin``: 1, 2, 4, 8… s);
* failed submissions are counted per attempted username and per client address
  (:class:`AdminLoginThrottle`, on :class:`idp.core.ratelimit.FailureLimiter`). Once a counter is
  full, further submissions for that username or from that address are refused with HTTP 429
  *before* the password is checked, until the counter's window ends, and journaled as
  ``admin:login:throttled``.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import LoginView
from django.core.exceptions import NON_FIELD_ERRORS
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django_otp import devices_for_user
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite
from django_otp.models import Device, VerifyNotAllowed

from idp.audit.journal import record
from idp.audit.tags import EventTag
from idp.core.ratelimit import FailureLimiter, address_key

# Usernames are at most 150 characters in django.contrib.auth; anything longer is noise (or an
# attempt to flood the journal) and is cut.
_MAX_USERNAME = 150

# --- Failed-login throttling ----------------------------------------------------------------------
# Defaults; each can be overridden by the Django setting of the same name, read at every request.
#: Length of a counting window, in seconds (fixed windows: see idp.core.ratelimit).
IDP_ADMIN_LOGIN_FAILURE_WINDOW = 15 * 60
#: Failed submissions per attempted username and window; the next ones are refused unchecked.
#: 0 turns this counter off.
IDP_ADMIN_LOGIN_FAILURES_PER_USERNAME = 5
#: Failed submissions per client address (REMOTE_ADDR, IPv6 per /64) and window. 0 turns this
#: counter off (behind a proxy that REMOTE_ADDR does not see through, all clients share it).
IDP_ADMIN_LOGIN_FAILURES_PER_ADDRESS = 20

#: Form error code of a submission refused by the throttle.
THROTTLED_CODE = "rate_limited"


def username_key(raw: object) -> str:
    """The attempted username as a counter key: one counter for every way of typing it.

    Stripped and NFKC-normalised like ``UsernameField`` does before authenticating, cut like the
    journal's subject, and case-folded: "Alice" and "alice" share a counter, so an attacker gains
    nothing from case variants even if a future backend matched usernames without case.
    """
    text = unicodedata.normalize("NFKC", str(raw).strip())
    return text[:_MAX_USERNAME].casefold()


@dataclass(frozen=True)
class AdminLoginThrottle:
    """The two failure counters of one login submission: its username's and its address's.

    Every refused submission counts (wrong password, wrong or missing code, unknown user, empty
    field…): a right password with a missing code is refused differently from a wrong one, so it is
    a guess too. A submission refused by the throttle itself is not counted: the lock lasts until
    the end of the window in which the limit was reached, no longer.

    A successful login resets its username's counter (only the account's owner, holding password
    *and* code, can do that) but not the address's: otherwise one valid account would let an
    address clear its own counter between guesses at other accounts.
    """

    username: str
    address: str

    @classmethod
    def for_submission(cls, request: HttpRequest, username: object) -> AdminLoginThrottle:
        return cls(username=username_key(username or ""), address=address_key(request))

    def _counters(self) -> list[tuple[str, FailureLimiter, str]]:
        window = getattr(settings, "IDP_ADMIN_LOGIN_FAILURE_WINDOW", IDP_ADMIN_LOGIN_FAILURE_WINDOW)
        limits = {
            "username": getattr(
                settings,
                "IDP_ADMIN_LOGIN_FAILURES_PER_USERNAME",
                IDP_ADMIN_LOGIN_FAILURES_PER_USERNAME,
            ),
            "address": getattr(
                settings,
                "IDP_ADMIN_LOGIN_FAILURES_PER_ADDRESS",
                IDP_ADMIN_LOGIN_FAILURES_PER_ADDRESS,
            ),
        }
        # No username, nothing to count: the form refuses the submission before any check.
        keys = {"username": self.username, "address": self.address}
        return [
            (name, FailureLimiter(f"caducee.admin-login.{name}", limit=limit, window=window), key)
            for name, limit in limits.items()
            if limit > 0 and (key := keys[name])
        ]

    def blocked(self) -> dict[str, int]:
        """``{"username" | "address": seconds until it may try again}`` for each full counter."""
        waits = {name: limiter.retry_after(key) for name, limiter, key in self._counters()}
        return {name: seconds for name, seconds in waits.items() if seconds}

    def register_failure(self) -> None:
        for _name, limiter, key in self._counters():
            limiter.register_failure(key)

    def register_success(self) -> None:
        for name, limiter, key in self._counters():
            if name == "username":
                limiter.reset(key)


def throttled_message(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return ngettext(
        "Too many failed login attempts: try again in %(minutes)d minute.",
        "Too many failed login attempts: try again in %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}


class _OneTimeCodeInput(forms.TextInput):
    """A text input that never writes the submitted code back into the page."""

    def get_context(self, name: str, value: object, attrs: dict | None) -> dict:
        context = super().get_context(name, None, attrs)
        context["widget"]["value"] = None
        return context


class AdminLoginForm(OTPAdminAuthenticationForm):
    """Username + password + TOTP code, verified in one submission.

    Differences from django-otp's form: an administrator with a single confirmed device (the normal
    case: one authenticator per account) is not asked to choose it; one with no confirmed device is
    told how to get one; the password is never rendered back into the page after an error.
    """

    otp_token = forms.CharField(
        label=_("Authenticator code"),
        required=False,
        max_length=16,
        help_text=_("The 6-digit code shown by your authenticator app."),
        widget=_OneTimeCodeInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "autocapitalize": "off",
                "spellcheck": "false",
            }
        ),
    )

    otp_error_messages = {
        **OTPAdminAuthenticationForm.otp_error_messages,
        "token_required": _("Enter the code shown by your authenticator app."),
        "invalid_token": _(
            "This code is not valid or has already been used. Wait for the next code and try again."
        ),
        "device_required": _("Choose the authenticator to use."),
        "no_device": _(
            "This account has no confirmed authenticator, so it cannot open the administration. "
            "Ask an operator to enrol one with: manage.py admin_totp <username>"
        ),
    }

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["otp_device"].label = _("Authenticator")
        self.show_device_choice = False
        self._confirmed_devices = 0
        self._refusal: str | None = None

    def refuse(self, message: str) -> None:
        """Make this submission fail with ``message`` without checking any credential."""
        self._refusal = message

    def clean(self) -> dict:
        # Before AuthenticationForm.clean, the only place where the password (then the code) is
        # checked: a refused submission never reaches authenticate().
        if self._refusal is not None:
            raise forms.ValidationError(self._refusal, code=THROTTLED_CODE)
        return super().clean()

    # --- hooks of django_otp.forms.OTPAuthenticationFormMixin -------------------------------------
    def _chosen_device(self, user) -> Device | None:
        # Called inside clean_otp's transaction: for_verify locks the rows (SELECT … FOR UPDATE)
        # so that concurrent attempts on one device are checked one after the other.
        devices = list(devices_for_user(user, confirmed=True, for_verify=True))
        self._confirmed_devices = len(devices)
        if not devices:
            raise forms.ValidationError(self.otp_error_messages["no_device"], code="no_device")
        if len(devices) == 1:
            return devices[0]
        device = super()._chosen_device(user)
        # django-otp loads the submitted device without looking at `confirmed`.
        return device if device is not None and device.confirmed else None

    def _verify_token(self, user, token: str, device: Device | None = None) -> Device:
        if device is not None:
            allowed, extra = device.verify_is_allowed()
            if not allowed and (extra or {}).get("reason") == VerifyNotAllowed.N_FAILED_ATTEMPTS:
                raise forms.ValidationError(self._throttled_message(extra), code="throttled")
        return super()._verify_token(user, token, device)

    def _update_form(self, user) -> None:
        # django-otp sets render_value=True on the password widget so that the second step of its
        # two-step form keeps it; ours is a single step, and a password has no business in the HTML.
        self.show_device_choice = self._confirmed_devices > 1
        if self.show_device_choice:
            self.fields["otp_device"].widget.choices = self.device_choices(user)

    @staticmethod
    def _throttled_message(extra: dict) -> str:
        locked_until = extra.get("locked_until")
        seconds = 1
        if locked_until is not None:
            seconds = max(1, math.ceil((locked_until - timezone.now()).total_seconds()))
        return ngettext(
            "Too many wrong codes: try again in %(seconds)d second.",
            "Too many wrong codes: try again in %(seconds)d seconds.",
            seconds,
        ) % {"seconds": seconds}

    def error_codes(self) -> list[str]:
        """The codes of every error of a failed submission, for the journal."""
        return sorted(
            {
                error.code or "invalid"
                for errors in self.errors.as_data().values()
                for error in errors
            }
        )


class AuditedAdminLoginView(LoginView):
    """Django's LoginView, throttling failed submissions and journaling each outcome."""

    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        # ProcessFormView.post, with the failure counters consulted before the form is validated.
        form = self.get_form()
        self.throttle = AdminLoginThrottle.for_submission(request, form.data.get("username"))
        self.blocked = self.throttle.blocked()
        if self.blocked:
            form.refuse(throttled_message(max(self.blocked.values())))
        if form.is_valid():
            return self.form_valid(form)
        return self.form_invalid(form)

    def form_valid(self, form: AdminLoginForm) -> HttpResponse:
        response = super().form_valid(form)
        self.throttle.register_success()
        user = form.get_user()
        device = getattr(user, "otp_device", None)
        record(
            EventTag.ADMIN_LOGIN_SUCCEEDED,
            actor=f"admin:{user.get_username()}",
            subject=f"admin:{user.get_username()}",
            request=self.request,
            data={"device": device.persistent_id if device is not None else ""},
        )
        return response

    def form_invalid(self, form: AdminLoginForm) -> HttpResponse:
        # The journal names people "<kind>:<identifier>"; here the identifier is only claimed.
        attempted = "admin:" + str(form.data.get("username", ""))[:_MAX_USERNAME]
        if form.has_error(NON_FIELD_ERRORS, THROTTLED_CODE):
            return self._throttled(form, attempted)
        # Counted before the journal is written: a failing journal must not save a guess.
        self.throttle.register_failure()
        record(
            EventTag.ADMIN_LOGIN_FAILED,
            subject=attempted,
            request=self.request,
            # Reason codes only: never the password nor the code typed.
            data={"reasons": form.error_codes(), "first_factor_ok": form.get_user() is not None},
        )
        return super().form_invalid(form)

    def _throttled(self, form: AdminLoginForm, attempted: str) -> HttpResponse:
        retry_after = max(self.blocked.values())
        record(
            EventTag.ADMIN_LOGIN_THROTTLED,
            subject=attempted,
            request=self.request,
            data={"limits": sorted(self.blocked), "retry_after": retry_after},
        )
        # RFC 6585 §4: 429 Too Many Requests, with Retry-After (RFC 9110 §10.2.3).
        response = self.render_to_response(self.get_context_data(form=form), status=429)
        response["Retry-After"] = str(retry_after)
        return response


class CaduceeAdminSite(OTPAdminSite):
    """The Django admin, reachable only with a session verified by a confirmed TOTP device."""

    site_header = _("Caducée administration")
    site_title = "Caducée"
    index_title = _("Administration")
    login_form = AdminLoginForm
    login_template = "admin/caducee_login.html"

    def __init__(self, name: str = "admin") -> None:
        # OTPAdminSite defaults to "otpadmin"; this site *is* the admin.
        super().__init__(name)

    @method_decorator(never_cache)
    @login_not_required
    def login(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        """AdminSite.login with a view that journals each attempt (same context and redirects)."""
        if request.method == "GET" and self.has_permission(request):
            return HttpResponseRedirect(reverse("admin:index", current_app=self.name))

        context = {
            **self.each_context(request),
            "title": _("Log in"),
            "subtitle": None,
            "app_path": request.get_full_path(),
            "username": request.user.get_username(),
        }
        if REDIRECT_FIELD_NAME not in request.GET and REDIRECT_FIELD_NAME not in request.POST:
            context[REDIRECT_FIELD_NAME] = reverse("admin:index", current_app=self.name)
        context.update(extra_context or {})

        request.current_app = self.name
        return AuditedAdminLoginView.as_view(
            extra_context=context,
            authentication_form=self.login_form,
            template_name=self.login_template,
        )(request)

    def logout(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        username = request.user.get_username() if request.user.is_authenticated else ""
        response = super().logout(request, extra_context)
        # LogoutView only logs out on POST; a GET is refused with 405 and changes nothing.
        if username and not request.user.is_authenticated:
            who = f"admin:{username}"
            record(EventTag.ADMIN_LOGOUT, actor=who, subject=who, request=request)
        return response
