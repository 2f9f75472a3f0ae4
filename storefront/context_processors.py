from catalog.models import Gender


def navigation(request) -> dict:
    return {"genders": Gender.choices}
