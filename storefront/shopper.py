from django.http import HttpRequest

from recommendations.selectors.shopper import Shopper, shopper_load


def request_shopper(request: HttpRequest) -> Shopper:
    """The shopper behind a request: the signed-in user, else the cookie's visitor."""
    user_id = request.user.pk if request.user.is_authenticated else None
    return shopper_load(user_id=user_id, visitor=request.visitor)
