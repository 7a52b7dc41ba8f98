"""An author's API tokens: list, create (rotate) and revoke them.

``POST /api/authors/<pk>/tokens/`` answers a new token once, like sign-up;
rotating is creating a new token and revoking the old one, which may be the
token the request itself carries. The moderator may list and revoke any
author's tokens but mints none (that would be writing as the author).
"""

from __future__ import annotations

from . import auth
from .errors import Forbidden, NotFound
from .models import ApiToken, Author
from .pagination import paginate
from .serializers import render, token_to_dict
from .views import ApiView, _created, _get_or_404, _no_content


class TokenListView(ApiView):
    def get(self, request, pk):
        auth.check_owner(request, pk)
        _get_or_404(Author, pk)
        tokens, next_cursor = paginate(
            request, ApiToken.objects.filter(author_pk=pk).order_by("-created_at"), f"tokens:{pk}"
        )
        return render({"results": [token_to_dict(t) for t in tokens], "next_cursor": next_cursor})

    @auth.write
    def post(self, request, pk):
        if auth.check_owner(request, pk).author_pk != pk:
            raise Forbidden("Only the author may create their tokens.")
        token, secret = auth.issue_token(pk)
        return _created({**token_to_dict(token), "token": secret}, f"/api/authors/{pk}/tokens/{token.pk}/")


class TokenDetailView(ApiView):
    def get(self, request, pk, token_id):
        auth.check_owner(request, pk)
        token = ApiToken.objects.consistent().filter(pk=token_id, author_pk=pk).first()
        if token is None:
            raise NotFound(f"Author {pk} has no token {token_id}.")
        return render(token_to_dict(token))

    @auth.write
    def delete(self, request, pk, token_id):
        auth.check_owner(request, pk)
        if not auth.revoke_token(pk, token_id):
            raise NotFound(f"Author {pk} has no token {token_id}.")
        return _no_content()
