"""Helpers of the member-page tests."""

import re

KEY_RE = re.compile(r'name="key" value="([0-9a-f]{32})"')


def text(response) -> str:
    return response.content.decode()


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def confirm_key(member_client, product, quantity=1) -> str:
    response = member_client.get(f"/mall/{product.pk}/redeem/?quantity={quantity}")
    assert response.status_code == 200
    return KEY_RE.search(text(response)).group(1)


def available(member) -> int:
    from points.selectors import balance

    return balance(member).available




def address_id(member) -> int:
    """The member's default saved address (made on first use): physical goods ship to one."""
    from catalog import services
    from catalog.models import Address

    found = Address.objects.filter(member_id=member.pk, is_default=True).first()
    if found is None:
        found = services.add_address(member, recipient="Li Lei", phone="13800138000",
                                     region="Shanghai Pudong", detail="1 Road")
    return found.pk
