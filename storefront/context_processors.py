from django.conf import settings

from catalog.models import Gender


def navigation(request) -> dict:
    return {"genders": Gender.choices, "demo_login_enabled": settings.DEMO_LOGIN_ENABLED}
